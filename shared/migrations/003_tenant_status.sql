-- Suspended tenants' coordinator tokens stop working in every service.
ALTER TABLE known_tenants ADD COLUMN status text NOT NULL DEFAULT 'active';
