-- Usage batches are written exactly once. The gateway names each batch with a time-ordered id and retries a
-- failed batch as is, under that id; the function records the id in the batch's own transaction and skips a
-- batch whose id is already there. Without it, a batch whose commit went through but whose reply was lost (a
-- connection cut at that moment) was written a second time by the retry. Ids are forgotten after a day,
-- longer than any retry waits: they are UUIDv7, so the forgotten ones are the lowest keys.
CREATE TABLE provider_usage_batches (
  id uuid PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
DROP FUNCTION lyss_record_usage(json);
--> statement-breakpoint
CREATE FUNCTION lyss_record_usage(batch_id uuid, batch json) RETURNS void LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
  g record;
  live uuid[];
BEGIN
  INSERT INTO provider_usage_batches (id) VALUES (batch_id) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  DELETE FROM provider_usage_batches
    WHERE id < encode(substring(int8send((extract(epoch FROM now() - interval '1 day') * 1000)::bigint) FROM 3)
      || '\x00000000000000000000'::bytea, 'hex')::uuid;

  -- Each field taken apart once: an -> on a json value parses all of it again, per call.
  FOR g IN SELECT * FROM json_to_recordset(batch) AS x(tenant uuid, tokens json, channels json, conversations json, messages json) LOOP
    PERFORM set_config('lyss.tenant_id', g.tenant::text, true);

    WITH v AS MATERIALIZED (SELECT * FROM json_to_recordset(g.tokens) AS v(id uuid, cost bigint, at timestamptz)),
      locked AS MATERIALIZED (SELECT t.id FROM provider_tokens t WHERE t.id = ANY (ARRAY(SELECT id FROM v)) ORDER BY t.id FOR NO KEY UPDATE OF t)
    UPDATE provider_tokens t SET used_quota = t.used_quota + v.cost, last_used_at = greatest(t.last_used_at, v.at)
      FROM v JOIN locked ON locked.id = v.id WHERE t.id = v.id;

    WITH v AS MATERIALIZED (SELECT * FROM json_to_recordset(g.channels) AS v(id uuid, cost bigint, at timestamptz)),
      locked AS MATERIALIZED (SELECT t.id FROM provider_channels t WHERE t.id = ANY (ARRAY(SELECT id FROM v)) ORDER BY t.id FOR NO KEY UPDATE OF t)
    UPDATE provider_channels t SET used_quota = t.used_quota + v.cost
      FROM v JOIN locked ON locked.id = v.id WHERE t.id = v.id;

    -- A channel deleted since the request leaves the conversation without one (as ON DELETE SET NULL would);
    -- a user deleted since then took their conversations with them, so theirs is not recreated. The int
    -- counters saturate rather than overflow (an overflow would fail the batch on every retry).
    WITH v AS MATERIALIZED (
        SELECT * FROM json_to_recordset(g.conversations) AS v(id uuid, tenant_id uuid, user_id uuid, title text, model_name text,
          provider_channel_id uuid, system_prompt text, message_count bigint, token_usage bigint, at timestamptz)),
      users AS MATERIALIZED (SELECT u.id FROM auth_users u WHERE u.id = ANY (ARRAY(SELECT user_id FROM v))),
      channels AS MATERIALIZED (SELECT c.id FROM provider_channels c WHERE c.id = ANY (ARRAY(SELECT provider_channel_id FROM v))),
      upserted AS (
        INSERT INTO chat_conversations
          (id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, message_count, token_usage, created_at, updated_at)
        SELECT v.id, v.tenant_id, v.user_id, v.title, v.model_name, c.id, v.system_prompt,
          least(v.message_count, 2147483647), least(v.token_usage, 2147483647), v.at, v.at
          FROM v
          JOIN users u ON u.id = v.user_id
          LEFT JOIN channels c ON c.id = v.provider_channel_id
          ORDER BY v.id
        ON CONFLICT (id) DO UPDATE SET
          message_count = least(chat_conversations.message_count::bigint + excluded.message_count, 2147483647),
          token_usage = least(chat_conversations.token_usage::bigint + excluded.token_usage, 2147483647),
          model_name = excluded.model_name,
          provider_channel_id = excluded.provider_channel_id,
          updated_at = greatest(chat_conversations.updated_at, excluded.updated_at)
        RETURNING id)
    SELECT array_agg(id) INTO live FROM upserted;

    -- Messages go to the conversations that exist now (not to those of a deleted user): every conversation
    -- with messages in the batch has a row in `conversations`, so the upsert returned all of those that exist.
    INSERT INTO chat_messages
      (tenant_id, conversation_id, role, content, token_count, model_used, response_time_ms, tool_calls, tool_call_id, created_at)
    SELECT g.tenant, v.conversation_id, v.role, v.content, v.token_count, v.model_used, v.response_time_ms, v.tool_calls,
        v.tool_call_id, v.created_at
      FROM json_to_recordset(g.messages) AS v(conversation_id uuid, role text, content text, token_count int,
        model_used text, response_time_ms int, tool_calls jsonb, tool_call_id text, created_at timestamptz)
      WHERE v.conversation_id = ANY (live);
  END LOOP;
END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_record_usage(uuid, json) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_record_usage(uuid, json) TO lyss_app;
