-- Row Level Security: every tenant-scoped table sees only the rows of the tenant named by the
-- transaction-local setting lyss.tenant_id (src/db/tenant.ts sets it). Forced, so even the tables' owner
-- is filtered; the application itself queries as lyss_app, which never bypasses RLS.
CREATE FUNCTION lyss_current_tenant() RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('lyss.tenant_id', true), '')::uuid
$$;
--> statement-breakpoint
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY[
    'auth_users', 'auth_user_sessions', 'auth_oauth_providers', 'auth_oauth_connections',
    'tenant_user_groups', 'tenant_user_group_members',
    'provider_channels', 'provider_tokens',
    'chat_conversations', 'chat_messages', 'chat_conversation_summaries',
    'memory_user_memories', 'memory_associations'
  ] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format(
      'CREATE POLICY tenant_isolation ON %I USING (tenant_id = lyss_current_tenant()) WITH CHECK (tenant_id = lyss_current_tenant())',
      t);
  END LOOP;
END $$;
--> statement-breakpoint
-- The application role. Created once per server (roles are cluster-wide), granted to whoever migrates so
-- that session can SET ROLE to it.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'lyss_app') THEN
    CREATE ROLE lyss_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
  EXECUTE format('GRANT lyss_app TO %I', current_user);
EXCEPTION WHEN insufficient_privilege THEN
  RAISE EXCEPTION 'the DATABASE_URL user needs CREATEROLE once, to create the lyss_app role (or create it beforehand: CREATE ROLE lyss_app NOLOGIN; GRANT lyss_app TO <user>)';
END $$;
--> statement-breakpoint
GRANT USAGE ON SCHEMA public TO lyss_app;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO lyss_app;
--> statement-breakpoint
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO lyss_app;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lyss_app;
--> statement-breakpoint
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO lyss_app;
--> statement-breakpoint
-- The one cross-tenant read on the relay's hot path (on a cache miss): a token by the digest of its value.
-- The digest is unguessable, so answering it across tenants reveals nothing; everything else a request
-- does runs inside its tenant's transaction. Owned by the migrating role, which bypasses RLS.
CREATE FUNCTION lyss_find_token(digest text)
RETURNS SETOF provider_tokens LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT * FROM provider_tokens WHERE key = digest
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_find_token(text) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_find_token(text) TO lyss_app;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_ensure_message_partitions(timestamptz, integer) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_ensure_message_partitions(timestamptz, integer) TO lyss_app;
