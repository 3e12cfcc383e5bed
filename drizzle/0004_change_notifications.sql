-- Every instance caches tokens, users, groups, tenants and channels in memory. Any change to what those
-- caches hold, made by any writer (admin API, CLI, config import, psql), sends NOTIFY lyss_changes with the
-- tenant's id after commit; every instance LISTENs and drops that tenant's cached entries.
-- Spend counters (used_quota, last_used_at, updated_at) change on every request and are left out, so the
-- usage writer never invalidates anything.
CREATE FUNCTION lyss_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tenant uuid;
BEGIN
  IF TG_TABLE_NAME = 'tenant_organizations' THEN
    tenant := coalesce(NEW.id, OLD.id);
  ELSIF TG_OP = 'DELETE' THEN
    tenant := OLD.tenant_id;
  ELSE
    tenant := NEW.tenant_id;
  END IF;
  PERFORM pg_notify('lyss_changes', tenant::text);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER lyss_changes AFTER INSERT OR DELETE OR UPDATE OF key, allowed_channels, allowed_models, quota, rate_limit, status, expires_at, user_id, tenant_id, name
  ON provider_tokens FOR EACH ROW EXECUTE FUNCTION lyss_notify_change();
--> statement-breakpoint
CREATE TRIGGER lyss_changes AFTER INSERT OR DELETE OR UPDATE OF name, type, key, priority, weight, status, quota, rate_limit, config_scope, owner_id, group_id, models, model_mapping, base_url, config, tenant_id
  ON provider_channels FOR EACH ROW EXECUTE FUNCTION lyss_notify_change();
--> statement-breakpoint
CREATE TRIGGER lyss_changes AFTER INSERT OR DELETE OR UPDATE OF status, is_active, role, tenant_id
  ON auth_users FOR EACH ROW EXECUTE FUNCTION lyss_notify_change();
--> statement-breakpoint
CREATE TRIGGER lyss_changes AFTER INSERT OR DELETE OR UPDATE
  ON tenant_user_group_members FOR EACH ROW EXECUTE FUNCTION lyss_notify_change();
--> statement-breakpoint
CREATE TRIGGER lyss_changes AFTER INSERT OR DELETE OR UPDATE OF status, settings
  ON tenant_organizations FOR EACH ROW EXECUTE FUNCTION lyss_notify_change();
