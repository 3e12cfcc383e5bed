-- chat_messages: range-partitioned by month on created_at, so the primary key includes created_at.
-- tenant_id is not in the founding document: Row Level Security needs it.
CREATE TABLE chat_messages (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenant_organizations(id) ON DELETE CASCADE,
  conversation_id uuid NOT NULL REFERENCES chat_conversations(id) ON DELETE CASCADE,
  role varchar(20) NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool', 'developer')),
  content text NOT NULL,
  token_count integer NOT NULL DEFAULT 0,
  model_used varchar(100),
  response_time_ms integer,
  tool_calls jsonb,
  tool_call_id varchar(100),
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
--> statement-breakpoint
CREATE INDEX idx_messages_conversation ON chat_messages (conversation_id, created_at);
--> statement-breakpoint
CREATE INDEX idx_messages_created_at ON chat_messages (created_at);
--> statement-breakpoint
CREATE INDEX idx_messages_tenant ON chat_messages (tenant_id);
--> statement-breakpoint
-- Creates the monthly partitions from the month of `start_at` for `months` months; returns how many it made.
-- SECURITY DEFINER: only the table's owner may attach partitions, and the application role is not the owner.
CREATE FUNCTION lyss_ensure_message_partitions(start_at timestamptz, months integer)
RETURNS integer LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  first_month date := date_trunc('month', start_at AT TIME ZONE 'UTC')::date;
  lower_bound date;
  upper_bound date;
  part_name text;
  created integer := 0;
BEGIN
  FOR i IN 0 .. months - 1 LOOP
    lower_bound := (first_month + make_interval(months => i))::date;
    upper_bound := (first_month + make_interval(months => i + 1))::date;
    part_name := format('chat_messages_y%sm%s', to_char(lower_bound, 'YYYY'), to_char(lower_bound, 'MM'));
    IF to_regclass(part_name) IS NULL THEN
      EXECUTE format(
        'CREATE TABLE IF NOT EXISTS %I PARTITION OF chat_messages FOR VALUES FROM (%L) TO (%L)',
        part_name, lower_bound::timestamp AT TIME ZONE 'UTC', upper_bound::timestamp AT TIME ZONE 'UTC');
      EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part_name);
      EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part_name);
      created := created + 1;
    END IF;
  END LOOP;
  RETURN created;
END $$;
--> statement-breakpoint
SELECT lyss_ensure_message_partitions(now(), 2);
