-- One usage batch in one call (src/usage/usage-repo.ts builds the argument): per tenant, in the order given
-- (ids ascending, so concurrent writers lock alike), token and channel spend, the conversations' counters and
-- the messages of the conversations that exist afterwards. As invoker, with lyss.tenant_id set for each
-- tenant in turn, Row Level Security applies to every statement as it does to the application's own. Sent
-- statement by statement, a batch cost five round trips per tenant in it; here it costs one.
CREATE FUNCTION lyss_record_usage(batch json) RETURNS void LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
  g record;
BEGIN
  -- Each field taken apart once: an -> on a json value parses all of it again, per call.
  FOR g IN SELECT * FROM json_to_recordset(batch) AS x(tenant uuid, tokens json, channels json, conversations json, messages json) LOOP
    PERFORM set_config('lyss.tenant_id', g.tenant::text, true);

    WITH v AS (SELECT * FROM json_to_recordset(g.tokens) AS v(id uuid, cost bigint, at timestamptz)),
      locked AS MATERIALIZED (SELECT t.id FROM provider_tokens t JOIN v ON v.id = t.id ORDER BY t.id FOR NO KEY UPDATE OF t)
    UPDATE provider_tokens t SET used_quota = t.used_quota + v.cost, last_used_at = greatest(t.last_used_at, v.at)
      FROM v JOIN locked ON locked.id = v.id WHERE t.id = v.id;

    WITH v AS (SELECT * FROM json_to_recordset(g.channels) AS v(id uuid, cost bigint, at timestamptz)),
      locked AS MATERIALIZED (SELECT t.id FROM provider_channels t JOIN v ON v.id = t.id ORDER BY t.id FOR NO KEY UPDATE OF t)
    UPDATE provider_channels t SET used_quota = t.used_quota + v.cost
      FROM v JOIN locked ON locked.id = v.id WHERE t.id = v.id;

    -- A channel deleted since the request leaves the conversation without one (as ON DELETE SET NULL would);
    -- a user deleted since then took their conversations with them, so theirs is not recreated. The int
    -- counters saturate rather than overflow (an overflow would fail the batch on every retry).
    INSERT INTO chat_conversations
      (id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, message_count, token_usage, created_at, updated_at)
    SELECT v.id, v.tenant_id, v.user_id, v.title, v.model_name, c.id, v.system_prompt,
      least(v.message_count, 2147483647), least(v.token_usage, 2147483647), v.at, v.at
      FROM json_to_recordset(g.conversations) AS v(id uuid, tenant_id uuid, user_id uuid, title text, model_name text,
        provider_channel_id uuid, system_prompt text, message_count bigint, token_usage bigint, at timestamptz)
      JOIN auth_users u ON u.id = v.user_id
      LEFT JOIN provider_channels c ON c.id = v.provider_channel_id
      ORDER BY v.id
    ON CONFLICT (id) DO UPDATE SET
      message_count = least(chat_conversations.message_count::bigint + excluded.message_count, 2147483647),
      token_usage = least(chat_conversations.token_usage::bigint + excluded.token_usage, 2147483647),
      model_name = excluded.model_name,
      provider_channel_id = excluded.provider_channel_id,
      updated_at = greatest(chat_conversations.updated_at, excluded.updated_at);

    -- Messages go to the conversations that exist now (not to those of a deleted user).
    INSERT INTO chat_messages
      (tenant_id, conversation_id, role, content, token_count, model_used, response_time_ms, tool_calls, tool_call_id, created_at)
    SELECT g.tenant, v.conversation_id, v.role, v.content, v.token_count, v.model_used, v.response_time_ms, v.tool_calls,
        v.tool_call_id, v.created_at
      FROM json_to_recordset(g.messages) AS v(conversation_id uuid, role text, content text, token_count int,
        model_used text, response_time_ms int, tool_calls jsonb, tool_call_id text, created_at timestamptz)
      JOIN chat_conversations c ON c.id = v.conversation_id;
  END LOOP;
END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_record_usage(json) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_record_usage(json) TO lyss_app;
