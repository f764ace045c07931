-- Tenant settings, invitation codes, feedback, and row-level security as the second wall between tenants.
ALTER TABLE tenants ADD COLUMN retention_days integer NOT NULL DEFAULT 90 CHECK (retention_days >= 1);

ALTER TABLE meetings ADD COLUMN invitation_code text NOT NULL DEFAULT upper(substr(md5(random()::text), 1, 8));

ALTER TABLE registrations ADD COLUMN attendance_recorded_at timestamptz;

CREATE TABLE feedback (
    registration_id uuid PRIMARY KEY REFERENCES registrations (id),
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    meeting_id      uuid NOT NULL REFERENCES meetings (id),
    rating          integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    new_connection  boolean NOT NULL,
    would_recommend boolean NOT NULL,
    comment         text,
    given_at        timestamptz NOT NULL DEFAULT now()
);

-- The service works as this role, which owns nothing, so the policies below always apply to it.
DO $$
BEGIN
    CREATE ROLE fmf_registration_app NOLOGIN;
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
GRANT USAGE ON SCHEMA public TO fmf_registration_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO fmf_registration_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO fmf_registration_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO fmf_registration_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO fmf_registration_app;

-- Every transaction says whose data it may see: SET LOCAL app.tenant_id = '<uuid>' (or '*' for the
-- operator and the service's own background work). Without it, nothing is visible.
CREATE FUNCTION app_tenant_visible(row_tenant uuid) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('app.tenant_id', true), '') IN (row_tenant::text, '*')
$$;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants USING (app_tenant_visible(id)) WITH CHECK (app_tenant_visible(id));

ALTER TABLE meetings ENABLE ROW LEVEL SECURITY;
ALTER TABLE meetings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON meetings
    USING (app_tenant_visible(tenant_id)) WITH CHECK (app_tenant_visible(tenant_id));

ALTER TABLE participants ENABLE ROW LEVEL SECURITY;
ALTER TABLE participants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON participants
    USING (app_tenant_visible(tenant_id)) WITH CHECK (app_tenant_visible(tenant_id));

ALTER TABLE registrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE registrations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON registrations
    USING (app_tenant_visible(tenant_id)) WITH CHECK (app_tenant_visible(tenant_id));

ALTER TABLE seating ENABLE ROW LEVEL SECURITY;
ALTER TABLE seating FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON seating
    USING (app_tenant_visible(tenant_id)) WITH CHECK (app_tenant_visible(tenant_id));

ALTER TABLE feedback ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feedback
    USING (app_tenant_visible(tenant_id)) WITH CHECK (app_tenant_visible(tenant_id));

-- Public entry points (a resident signing up, a participant's manage link) learn the tenant first.
CREATE FUNCTION tenant_of_meeting(meeting uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.tenant_id = '*' AS $$
    SELECT tenant_id FROM meetings WHERE id = meeting
$$;
CREATE FUNCTION tenant_of_registration(registration uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.tenant_id = '*' AS $$
    SELECT tenant_id FROM registrations WHERE id = registration
$$;
CREATE FUNCTION tenant_of_participant(participant uuid) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.tenant_id = '*' AS $$
    SELECT tenant_id FROM participants WHERE id = participant
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO fmf_registration_app;
