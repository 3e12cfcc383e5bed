-- Admin sessions (src/auth/): the two cross-tenant reads an admin request needs before it knows its tenant.
-- Like lyss_find_token, they answer only to a secret the caller holds (the digest of an access token, or the
-- id of a session, which appears only inside that session's own refresh tokens), return only the columns
-- the caller needs, and everything after them runs inside the tenant's transaction.
CREATE FUNCTION lyss_find_session(digest text)
RETURNS TABLE (id uuid, tenant_id uuid, user_id uuid, expires_at timestamptz, is_active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT s.id, s.tenant_id, s.user_id, s.expires_at, s.is_active FROM auth_user_sessions s WHERE s.session_token = digest
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_find_session(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_find_session(text) TO lyss_app;
--> statement-breakpoint
-- For refresh: the session named inside a refresh token, with the digest of its current refresh token, so a
-- token of this session that is no longer current (a reused, rotated-out one) is recognised and revokes it.
CREATE FUNCTION lyss_find_refresh_session(session_id uuid)
RETURNS TABLE (id uuid, tenant_id uuid, user_id uuid, refresh_token varchar, refresh_expires_at timestamptz, is_active boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT s.id, s.tenant_id, s.user_id, s.refresh_token, s.refresh_expires_at, s.is_active FROM auth_user_sessions s WHERE s.id = session_id
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_find_refresh_session(uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_find_refresh_session(uuid) TO lyss_app;
