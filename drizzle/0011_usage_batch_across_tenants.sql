-- lyss_write_usage: a usage batch written with one set of statements, whatever the number of tenants in it.
-- lyss_record_usage (0006-0010) ran its five statements once per tenant of the batch, under that tenant's Row
-- Level Security, and each run cost PostgreSQL ~0.2 ms whatever its size: with 50 tenants at 500 req/s (a
-- batch of ~50 records from ~40 tenants every 100 ms) PostgreSQL spent 2.2 times the CPU per answer it spent
-- with 3 (bench/README, "Eighteenth round"). This function is SECURITY DEFINER, owned by the migrating role,
-- which bypasses RLS (as lyss_find_token does), and checks tenants itself, row by row, where RLS checked them
-- by running under one tenant at a time:
--   - spend goes to a token or channel only if it belongs to the record's tenant;
--   - a conversation is written only for a user of its tenant, linked only to a channel of that tenant, and
--     an existing conversation of another tenant is never updated (nor given the record's messages);
--   - messages go only to the conversations this batch wrote, under their tenant.
-- lyss_app gains nothing by it: it may already name any tenant in lyss.tenant_id.
-- The batch is one object: `tokens`, `channels`, `conversations`, `messages` (each row carrying its tenant), and
-- `contents_from`. `texts` holds the batch's distinct system prompts (conversations name them by `prompt`,
-- 1-based), then from `contents_from` on the messages' contents in the order of `messages` (0010 says why texts
-- travel apart). Rows are locked in id order (tokens, channels, then conversations), so two calls of this
-- function never deadlock.
-- lyss_record_usage stays, for the processes of the release before, which may still write while a rolling
-- upgrade replaces them; it locks tenant by tenant, so it and this function may deadlock while both run, and
-- the batch that loses is retried (40P01 is not a data error).
-- search_path ends in pg_temp on every SECURITY DEFINER function, here and (ALTER at the end) on the earlier
-- ones: without it pg_temp is searched first, and a temporary table named like one of ours, with a trigger,
-- would run the caller's code as the function's owner.
CREATE FUNCTION lyss_write_usage(batch json, texts text[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  b record;
  -- The conversations written, as id || tenant: a message goes to its conversation only under its own tenant.
  live text[];
BEGIN
  -- Each field taken apart once: an -> on a json value parses all of it again, per call.
  SELECT * INTO b FROM json_to_record(batch) AS x(tokens json, channels json, conversations json, messages json, contents_from int);
  -- Texts that do not match their rows would land on other rows, silently: refuse the batch instead (a data
  -- exception, so the writer retries its records one by one, down to their spend alone).
  IF coalesce(array_length(texts, 1), 0) - b.contents_from + 1 <> json_array_length(b.messages)
      OR EXISTS (SELECT FROM json_to_recordset(b.conversations) AS c(prompt int) WHERE c.prompt NOT BETWEEN 1 AND b.contents_from - 1) THEN
    RAISE EXCEPTION 'usage batch: its texts do not match its rows' USING ERRCODE = 'data_exception';
  END IF;

  -- The tenant is checked against the locked rows, not the updated table: `t.tenant_id = v.tenant` there let the
  -- planner reach each token through idx_tokens_tenant_user, reading every token of the tenant per record.
  WITH v AS MATERIALIZED (SELECT * FROM json_to_recordset(b.tokens) AS v(id uuid, tenant uuid, cost bigint, at timestamptz)),
    locked AS MATERIALIZED (SELECT t.id, t.tenant_id FROM provider_tokens t WHERE t.id = ANY (ARRAY(SELECT id FROM v)) ORDER BY t.id FOR NO KEY UPDATE OF t)
  UPDATE provider_tokens t SET used_quota = t.used_quota + v.cost, last_used_at = greatest(t.last_used_at, v.at)
    FROM v JOIN locked ON locked.id = v.id AND locked.tenant_id = v.tenant WHERE t.id = v.id;

  WITH v AS MATERIALIZED (SELECT * FROM json_to_recordset(b.channels) AS v(id uuid, tenant uuid, cost bigint)),
    locked AS MATERIALIZED (SELECT t.id, t.tenant_id FROM provider_channels t WHERE t.id = ANY (ARRAY(SELECT id FROM v)) ORDER BY t.id FOR NO KEY UPDATE OF t)
  UPDATE provider_channels t SET used_quota = t.used_quota + v.cost
    FROM v JOIN locked ON locked.id = v.id AND locked.tenant_id = v.tenant WHERE t.id = v.id;

  -- A channel deleted since the request leaves the conversation without one (as ON DELETE SET NULL would);
  -- a user deleted since then took their conversations with them, so theirs is not recreated. The int
  -- counters saturate rather than overflow (an overflow would fail the batch on every retry).
  WITH v AS MATERIALIZED (
      SELECT v.*, p.text AS system_prompt
        FROM json_to_recordset(b.conversations) AS v(id uuid, tenant_id uuid, user_id uuid, title text, model_name text,
          provider_channel_id uuid, prompt int, message_count bigint, token_usage bigint, at timestamptz)
        LEFT JOIN unnest(texts[1 : b.contents_from - 1]) WITH ORDINALITY AS p(text, at) ON p.at = v.prompt),
    users AS MATERIALIZED (SELECT u.id, u.tenant_id FROM auth_users u WHERE u.id = ANY (ARRAY(SELECT user_id FROM v))),
    channels AS MATERIALIZED (SELECT c.id, c.tenant_id FROM provider_channels c WHERE c.id = ANY (ARRAY(SELECT provider_channel_id FROM v))),
    upserted AS (
      INSERT INTO chat_conversations
        (id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, message_count, token_usage, created_at, updated_at)
      SELECT v.id, v.tenant_id, v.user_id, v.title, v.model_name, c.id, v.system_prompt,
        least(v.message_count, 2147483647), least(v.token_usage, 2147483647), v.at, v.at
        FROM v
        JOIN users u ON u.id = v.user_id AND u.tenant_id = v.tenant_id
        LEFT JOIN channels c ON c.id = v.provider_channel_id AND c.tenant_id = v.tenant_id
        ORDER BY v.id
      ON CONFLICT (id) DO UPDATE SET
        message_count = least(chat_conversations.message_count::bigint + excluded.message_count, 2147483647),
        token_usage = least(chat_conversations.token_usage::bigint + excluded.token_usage, 2147483647),
        model_name = excluded.model_name,
        provider_channel_id = excluded.provider_channel_id,
        updated_at = greatest(chat_conversations.updated_at, excluded.updated_at)
        WHERE chat_conversations.tenant_id = excluded.tenant_id
      RETURNING id, tenant_id)
  SELECT array_agg(id::text || tenant_id::text) INTO live FROM upserted;

  -- Messages go to the conversations written just now, and only under their own tenant: not to those of a deleted
  -- user, and not to another tenant's conversation of the same id, which `live` may hold when a stray record's
  -- row was dropped or refused beside its owner's. Every conversation with messages in the batch has a row in
  -- `conversations`, so `live` holds all that exist. (`= ANY` on an array is hashed; a join with an unnest of it
  -- cost more.)
  INSERT INTO chat_messages
    (tenant_id, conversation_id, role, content, token_count, model_used, response_time_ms, tool_calls, tool_call_id, created_at)
  SELECT v.tenant, v.conversation_id, v.role, v.content, v.token_count, v.model_used, v.response_time_ms, v.tool_calls,
      v.tool_call_id, v.created_at
    FROM ROWS FROM (
        json_to_recordset(b.messages) AS (tenant uuid, conversation_id uuid, role text, token_count int,
          model_used text, response_time_ms int, tool_calls jsonb, tool_call_id text, created_at timestamptz),
        unnest(texts[b.contents_from :])
      ) AS v(tenant, conversation_id, role, token_count, model_used, response_time_ms, tool_calls, tool_call_id, created_at, content)
    WHERE v.conversation_id::text || v.tenant::text = ANY (live);
END $$;
--> statement-breakpoint
-- Whether a batch id is new, recording it if so (0009 says why); ids older than a day are forgotten. Its own
-- function so that this writer and any after it share one copy of the cut-off.
CREATE FUNCTION lyss_claim_usage_batch(batch_id uuid) RETURNS boolean LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO provider_usage_batches (id) VALUES (batch_id) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  DELETE FROM provider_usage_batches
    WHERE id < encode(substring(int8send((extract(epoch FROM now() - interval '1 day') * 1000)::bigint) FROM 3)
      || '\x00000000000000000000'::bytea, 'hex')::uuid;
  RETURN true;
END $$;
--> statement-breakpoint
CREATE FUNCTION lyss_write_usage(batch_id uuid, batch json, texts text[]) RETURNS void LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  IF lyss_claim_usage_batch(batch_id) THEN
    PERFORM lyss_write_usage(batch, texts);
  END IF;
END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_claim_usage_batch(uuid) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_claim_usage_batch(uuid) TO lyss_app;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_write_usage(json, text[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_write_usage(json, text[]) TO lyss_app;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_write_usage(uuid, json, text[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_write_usage(uuid, json, text[]) TO lyss_app;
--> statement-breakpoint
ALTER FUNCTION lyss_ensure_message_partitions(timestamptz, integer) SET search_path = public, pg_temp;
--> statement-breakpoint
ALTER FUNCTION lyss_find_token(text) SET search_path = public, pg_temp;
--> statement-breakpoint
ALTER FUNCTION lyss_find_session(text) SET search_path = public, pg_temp;
--> statement-breakpoint
ALTER FUNCTION lyss_find_refresh_session(uuid) SET search_path = public, pg_temp;
