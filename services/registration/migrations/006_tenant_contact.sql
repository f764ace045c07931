-- Whom participants contact about the municipality's meetings: named in every message (issue 17, kind 7).
ALTER TABLE tenants ADD COLUMN contact_email text, ADD COLUMN contact_phone text;
