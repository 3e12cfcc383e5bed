-- Extensions for conversation search. pg_stat_statements only where the server allows it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
--> statement-breakpoint
CREATE EXTENSION IF NOT EXISTS btree_gin;
--> statement-breakpoint
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_stat_statements not available: %', SQLERRM;
END $$;
--> statement-breakpoint
CREATE INDEX IF NOT EXISTS idx_conversations_title_trgm ON chat_conversations USING gin (title gin_trgm_ops);
--> statement-breakpoint
-- The five preset provider types of the founding document. Azure's base URL is per resource (on the channel).
INSERT INTO provider_types (name, display_name, base_url, api_format) VALUES
  ('openai', 'OpenAI', 'https://api.openai.com', 'openai'),
  ('anthropic', 'Anthropic', 'https://api.anthropic.com', 'anthropic'),
  ('deepseek', 'DeepSeek', 'https://api.deepseek.com', 'openai'),
  ('azure-openai', 'Azure OpenAI', NULL, 'azure'),
  ('zhipu', 'Zhipu AI', 'https://open.bigmodel.cn', 'openai')
ON CONFLICT (name) DO NOTHING;
