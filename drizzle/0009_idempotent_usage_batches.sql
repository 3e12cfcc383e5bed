-- Usage batches are written exactly once. The gateway names each batch with a time-ordered id and retries a
-- failed batch as is, under that id; lyss_record_usage(batch_id, batch) records the id in the batch's own
-- transaction and skips a batch whose id is already there, then writes it with lyss_record_usage(batch)
-- (0007). Without it, a batch whose commit went through but whose reply was lost (a connection cut at that
-- moment) was written a second time by the retry. Ids are forgotten after a day, longer than any retry
-- waits: they are UUIDv7, so the forgotten ones are the lowest keys.
CREATE TABLE provider_usage_batches (
  id uuid PRIMARY KEY,
  written_at timestamptz NOT NULL DEFAULT now()
);
--> statement-breakpoint
CREATE FUNCTION lyss_record_usage(batch_id uuid, batch json) RETURNS void LANGUAGE plpgsql SET search_path = public AS $$
BEGIN
  INSERT INTO provider_usage_batches (id) VALUES (batch_id) ON CONFLICT DO NOTHING;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  DELETE FROM provider_usage_batches
    WHERE id < encode(substring(int8send((extract(epoch FROM now() - interval '1 day') * 1000)::bigint) FROM 3)
      || '\x00000000000000000000'::bytea, 'hex')::uuid;
  PERFORM lyss_record_usage(batch);
END $$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION lyss_record_usage(uuid, json) FROM PUBLIC;
--> statement-breakpoint
GRANT EXECUTE ON FUNCTION lyss_record_usage(uuid, json) TO lyss_app;
