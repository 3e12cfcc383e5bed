-- A conversation deleted while its requests were in flight came back: their usage records, written after the
-- delete, inserted the row they no longer found, with a new title and the late messages. Each conversation row of
-- a batch now says whether a record in it may create the row (`creates`): not a record whose request found the
-- row already stored, since a row it then no longer finds was deleted. Such a record adds nothing to the
-- conversation (its spend still counts on the token and channel). A writer of the release before sends no
-- `creates`: its rows may create, as before.
-- lyss_write_usage (0012) is redefined as it was otherwise.
CREATE OR REPLACE FUNCTION lyss_write_usage(batch json, texts text[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
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
          provider_channel_id uuid, prompt int, temperature real, max_tokens int, message_count bigint, token_usage bigint, at timestamptz,
          creates boolean)
        LEFT JOIN unnest(texts[1 : b.contents_from - 1]) WITH ORDINALITY AS p(text, at) ON p.at = v.prompt),
    users AS MATERIALIZED (SELECT u.id, u.tenant_id FROM auth_users u WHERE u.id = ANY (ARRAY(SELECT user_id FROM v))),
    channels AS MATERIALIZED (SELECT c.id, c.tenant_id FROM provider_channels c WHERE c.id = ANY (ARRAY(SELECT provider_channel_id FROM v))),
    upserted AS (
      INSERT INTO chat_conversations
        (id, tenant_id, user_id, title, model_name, provider_channel_id, system_prompt, temperature, max_tokens,
          message_count, token_usage, created_at, updated_at)
      SELECT v.id, v.tenant_id, v.user_id, v.title, v.model_name, c.id, v.system_prompt, v.temperature, v.max_tokens,
        least(v.message_count, 2147483647), least(v.token_usage, 2147483647), v.at, v.at
        FROM v
        JOIN users u ON u.id = v.user_id AND u.tenant_id = v.tenant_id
        LEFT JOIN channels c ON c.id = v.provider_channel_id AND c.tenant_id = v.tenant_id
        -- Only a row that may be created, or one that exists (and is updated below): not one deleted meanwhile.
        WHERE coalesce(v.creates, true) OR EXISTS (SELECT FROM chat_conversations x WHERE x.id = v.id)
        ORDER BY v.id
      ON CONFLICT (id) DO UPDATE SET
        message_count = least(chat_conversations.message_count::bigint + excluded.message_count, 2147483647),
        token_usage = least(chat_conversations.token_usage::bigint + excluded.token_usage, 2147483647),
        model_name = excluded.model_name,
        provider_channel_id = excluded.provider_channel_id,
        -- A record older than the row's last change (a backlog written late) changes neither.
        temperature = CASE WHEN excluded.updated_at >= chat_conversations.updated_at THEN excluded.temperature ELSE chat_conversations.temperature END,
        max_tokens = CASE WHEN excluded.updated_at >= chat_conversations.updated_at THEN excluded.max_tokens ELSE chat_conversations.max_tokens END,
        status = CASE WHEN chat_conversations.status = 'archived' AND excluded.updated_at > chat_conversations.updated_at THEN 'active' ELSE chat_conversations.status END,
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
