-- The tenant's public page finds its tenant by slug before any tenant scope is set (like tenant_of_meeting).
CREATE FUNCTION tenant_of_slug(tenant_slug text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public SET app.tenant_id = '*' AS $$
    SELECT id FROM tenants WHERE slug = tenant_slug
$$;
GRANT EXECUTE ON FUNCTION tenant_of_slug(text) TO fmf_registration_app;
