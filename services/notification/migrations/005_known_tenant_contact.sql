-- The municipality's contact, from tenant.created / tenant.updated, for the messages notification sends.
-- Only notification keeps it (shared/tenancy.py, with_contact=True); reporting keeps no contact at all.
ALTER TABLE known_tenants ADD COLUMN IF NOT EXISTS contact_email text, ADD COLUMN IF NOT EXISTS contact_phone text;
