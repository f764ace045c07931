-- The municipality's contact, from tenant.created / tenant.updated, for the messages notification sends.
ALTER TABLE known_tenants ADD COLUMN contact_email text, ADD COLUMN contact_phone text;
