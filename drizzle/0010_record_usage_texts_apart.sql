-- lyss_record_usage with the batch's texts passed apart, as a text[]. PostgreSQL 15's json parser de-escapes a
-- string a character at a time (~25 ns a byte here), and the nested json_to_recordset calls read each text
-- twice: a 20,000-character system prompt cost ~580 us of PostgreSQL CPU per record, four times the rest of
-- its record; an array element is read at a third of that (bench/usage-batch-tenants.ts,
-- BENCH_BATCH_PROMPT_CHARS). Each tenant's texts are one run of the array: from `prompts_from`, its distinct
-- system prompts, which its conversations name by their place in that run (`prompt`, 1-based; an application
-- resends one prompt with every call, and the batch carries it once); from `contents_from` to `contents_to`,
-- its messages' contents in the order of its `messages`, which ROWS FROM zips back with them. Not
-- `texts[i]` per message: PostgreSQL finds the i-th element of a text[] by walking the ones before it, and a
-- batch of long histories would cost its square.
-- The two-argument functions of 0007 and 0009 stay, unchanged and correct, for the processes of the release
-- before, which may still write while a rolling upgrade replaces them.
CREATE FUNCTION lyss_record_usage(batch json, texts text[]) RETURNS void LANGUAGE plpgsql SET search_path = public AS $$
DECLARE
  g record;
  live uuid[];
BEGIN
  -- Each field taken apart once: an -> on a json value parses all of it again, per call.
  FOR g IN SELECT * FROM json_to_recordset(batch) AS x(tenant uuid, tokens json, channels json, conversations json, messages json,
      prompts_from int, contents_from int, contents_to int) LOOP
    PERFORM set_config('lyss.tenant_id', g.tenant::text, true);
    -- A run that does not match its rows would put texts on other rows, silently: refuse the batch instead (a
    -- data exception, so the writer retries its records one by one, down to their spend alone).
    IF g.contents_to - g.contents_from + 1 <> json_array_length(g.messages)
        OR EXISTS (SELECT FROM json_to_recordset(g.conversations) AS c(prompt int)
          WHERE c.prompt NOT BETWEEN 1 AND g.contents_from - g.prompts_from) THEN
      RAISE EXCEPTION 'usage batch: the texts of tenant % do not match its rows', g.tenant USING ERRCODE = 'data_exception';
    END IF;

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
        SELECT v.*, p.text AS system_prompt
          FROM json_to_recordset(g.conversations) AS v(id uuid, tenant_id uuid, user_id uuid, title text, model_name text,
            provider_channel_id uuid, prompt int, message_count bigint, token_usage bigint, at timestamptz)
          LEFT JOIN unnest(texts[g.prompts_from : g.contents_from - 1]) WITH ORDINALITY AS p(text, at) ON p.at = v.prompt),
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
      FROM ROWS FROM (
          json_to_recordset(g.messages) AS (conversation_id uuid, role text, token_count int,
            model_used text, response_time_ms int, tool_calls jsonb, tool_call_id text, created_at timestamptz),
          unnest(texts[g.contents_from : g.contents_to])
        ) AS v(conversation_id, role, token_count, model_used, response_time_ms, tool_calls, tool_call_id, created_at, content)
      WHERE v.conversation_id = ANY (live);
  END LOOP;
END $$;
--> statement-breakpoint
CREATE FUNCTION lyss_record_usage(batch_id uuid, batch json, texts text[]) RETURNS void LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
  INSERT INTO provider_usage_batches (id) VALUES (batch_id) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  DELETE FROM provider_usage_batches
    WHERE id < encode(substring(int8send((extract(epoch FROM now() - interval '1 day') * 1000)::bigint) FROM 3)
      || '\x00000000000000000000'::bytea, 'hex')::uuid;
  PERFORM lyss_record_usage(batch, texts);
END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_record_usage(json, text[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_record_usage(json, text[]) TO lyss_app;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_record_usage(uuid, json, text[]) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_record_usage(uuid, json, text[]) TO lyss_app;
