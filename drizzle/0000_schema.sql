CREATE TABLE "tenant_organizations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" varchar(255) NOT NULL,
	"slug" varchar(100) NOT NULL,
	"status" varchar(20) DEFAULT 'active' NOT NULL,
	"subscription_plan" varchar(50) DEFAULT 'basic' NOT NULL,
	"max_users" integer DEFAULT 10 NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tenant_organizations_slug_unique" UNIQUE("slug"),
	CONSTRAINT "tenant_organizations_status_check" CHECK ("tenant_organizations"."status" in ('active', 'suspended', 'inactive'))
);
--> statement-breakpoint
CREATE TABLE "tenant_user_group_members" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"group_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"role" varchar(20) DEFAULT 'member' NOT NULL,
	"joined_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_tenant_group_members" UNIQUE("group_id","user_id"),
	CONSTRAINT "tenant_user_group_members_role_check" CHECK ("tenant_user_group_members"."role" in ('admin', 'member'))
);
--> statement-breakpoint
CREATE TABLE "tenant_user_groups" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"name" varchar(100) NOT NULL,
	"description" text,
	"created_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_tenant_user_groups_tenant_name" UNIQUE("tenant_id","name")
);
--> statement-breakpoint
CREATE TABLE "auth_oauth_connections" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"provider_id" uuid NOT NULL,
	"external_id" varchar(255) NOT NULL,
	"external_email" varchar(255),
	"external_username" varchar(255),
	"access_token" text,
	"refresh_token" text,
	"token_expires_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_auth_oauth_provider_external" UNIQUE("provider_id","external_id")
);
--> statement-breakpoint
CREATE TABLE "auth_oauth_providers" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"provider_name" varchar(50) NOT NULL,
	"client_id" varchar(255) NOT NULL,
	"encrypted_client_secret" text NOT NULL,
	"redirect_uri" varchar(500) NOT NULL,
	"scopes" text[] DEFAULT ARRAY['openid', 'profile', 'email'] NOT NULL,
	"is_enabled" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_auth_oauth_tenant_provider" UNIQUE("tenant_id","provider_name")
);
--> statement-breakpoint
CREATE TABLE "auth_user_sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" uuid NOT NULL,
	"tenant_id" uuid NOT NULL,
	"session_token" varchar(255) NOT NULL,
	"refresh_token" varchar(255) NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"refresh_expires_at" timestamp with time zone NOT NULL,
	"ip_address" "inet",
	"user_agent" text,
	"is_active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "auth_user_sessions_session_token_unique" UNIQUE("session_token"),
	CONSTRAINT "auth_user_sessions_refresh_token_unique" UNIQUE("refresh_token")
);
--> statement-breakpoint
CREATE TABLE "auth_users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"email" varchar(255) NOT NULL,
	"username" varchar(100),
	"hashed_password" varchar(255) NOT NULL,
	"first_name" varchar(100),
	"last_name" varchar(100),
	"full_name" varchar(200),
	"avatar_url" text,
	"role" varchar(20) DEFAULT 'end_user' NOT NULL,
	"status" varchar(20) DEFAULT 'active' NOT NULL,
	"is_active" boolean DEFAULT true NOT NULL,
	"email_verified" boolean DEFAULT false NOT NULL,
	"last_login_at" timestamp with time zone,
	"login_attempts" integer DEFAULT 0 NOT NULL,
	"locked_until" timestamp with time zone,
	"mfa_enabled" boolean DEFAULT false NOT NULL,
	"mfa_secret" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_auth_users_tenant_email" UNIQUE("tenant_id","email"),
	CONSTRAINT "uk_auth_users_tenant_username" UNIQUE("tenant_id","username"),
	CONSTRAINT "auth_users_role_check" CHECK ("auth_users"."role" in ('super_admin', 'tenant_admin', 'end_user')),
	CONSTRAINT "auth_users_status_check" CHECK ("auth_users"."status" in ('active', 'inactive', 'suspended'))
);
--> statement-breakpoint
CREATE TABLE "provider_channels" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"name" varchar(100) NOT NULL,
	"type" integer NOT NULL,
	"key" text NOT NULL,
	"priority" integer DEFAULT 1 NOT NULL,
	"weight" integer DEFAULT 1 NOT NULL,
	"status" integer DEFAULT 1 NOT NULL,
	"quota" bigint DEFAULT -1 NOT NULL,
	"used_quota" bigint DEFAULT 0 NOT NULL,
	"rate_limit" integer DEFAULT 100 NOT NULL,
	"config_scope" varchar(20) DEFAULT 'personal' NOT NULL,
	"owner_id" uuid,
	"group_id" uuid,
	"models" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"model_mapping" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"base_url" text,
	"config" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"status_reason" text,
	"status_changed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_provider_channels_tenant_name" UNIQUE("tenant_id","name"),
	CONSTRAINT "provider_channels_scope_check" CHECK ("provider_channels"."config_scope" in ('personal', 'group', 'tenant')),
	CONSTRAINT "provider_channels_status_check" CHECK ("provider_channels"."status" in (1, 2, 3)),
	CONSTRAINT "provider_channels_scope_owner_check" CHECK (("provider_channels"."config_scope" <> 'personal' or "provider_channels"."owner_id" is not null) and ("provider_channels"."config_scope" <> 'group' or "provider_channels"."group_id" is not null))
);
--> statement-breakpoint
CREATE TABLE "provider_tokens" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"name" varchar(100) NOT NULL,
	"key" text NOT NULL,
	"key_prefix" varchar(16) NOT NULL,
	"allowed_channels" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"allowed_models" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"quota" bigint DEFAULT -1 NOT NULL,
	"used_quota" bigint DEFAULT 0 NOT NULL,
	"rate_limit" integer DEFAULT 60 NOT NULL,
	"status" integer DEFAULT 1 NOT NULL,
	"expires_at" timestamp with time zone,
	"last_used_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "provider_tokens_key_unique" UNIQUE("key"),
	CONSTRAINT "provider_tokens_status_check" CHECK ("provider_tokens"."status" in (1, 2, 3))
);
--> statement-breakpoint
CREATE TABLE "provider_types" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" varchar(50) NOT NULL,
	"display_name" varchar(100) NOT NULL,
	"base_url" text,
	"supported_models" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"api_format" varchar(20) DEFAULT 'openai' NOT NULL,
	"status" varchar(20) DEFAULT 'active' NOT NULL,
	CONSTRAINT "provider_types_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "chat_conversation_summaries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"conversation_id" uuid NOT NULL,
	"summary_text" text NOT NULL,
	"summary_type" varchar(20) DEFAULT 'auto' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "chat_conversations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"title" varchar(200) NOT NULL,
	"model_name" varchar(100),
	"provider_channel_id" uuid,
	"system_prompt" text,
	"temperature" real DEFAULT 0.7,
	"max_tokens" integer DEFAULT 4000,
	"status" varchar(20) DEFAULT 'active' NOT NULL,
	"message_count" integer DEFAULT 0 NOT NULL,
	"token_usage" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "memory_associations" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"memory_id" uuid NOT NULL,
	"related_memory_id" uuid NOT NULL,
	"association_type" varchar(50) DEFAULT 'similar' NOT NULL,
	"strength" real DEFAULT 0.5 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_memory_associations" UNIQUE("memory_id","related_memory_id")
);
--> statement-breakpoint
CREATE TABLE "memory_user_memories" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"memory_text" text NOT NULL,
	"memory_hash" varchar(64) NOT NULL,
	"embedding_id" varchar(255),
	"relevance_score" real DEFAULT 0 NOT NULL,
	"memory_type" varchar(50) DEFAULT 'conversation' NOT NULL,
	"memory_category" varchar(50),
	"source_type" varchar(20) DEFAULT 'chat' NOT NULL,
	"source_id" uuid,
	"status" varchar(20) DEFAULT 'active' NOT NULL,
	"importance_score" integer DEFAULT 50 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "uk_memories_tenant_user_hash" UNIQUE("tenant_id","user_id","memory_hash")
);
--> statement-breakpoint
ALTER TABLE "tenant_user_group_members" ADD CONSTRAINT "tenant_user_group_members_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_user_group_members" ADD CONSTRAINT "tenant_user_group_members_group_id_tenant_user_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."tenant_user_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_user_group_members" ADD CONSTRAINT "tenant_user_group_members_user_id_auth_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."auth_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_user_groups" ADD CONSTRAINT "tenant_user_groups_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_user_groups" ADD CONSTRAINT "tenant_user_groups_created_by_auth_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."auth_users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auth_oauth_connections" ADD CONSTRAINT "auth_oauth_connections_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auth_oauth_connections" ADD CONSTRAINT "auth_oauth_connections_user_id_auth_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."auth_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auth_oauth_connections" ADD CONSTRAINT "auth_oauth_connections_provider_id_auth_oauth_providers_id_fk" FOREIGN KEY ("provider_id") REFERENCES "public"."auth_oauth_providers"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auth_oauth_providers" ADD CONSTRAINT "auth_oauth_providers_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auth_user_sessions" ADD CONSTRAINT "auth_user_sessions_user_id_auth_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."auth_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auth_user_sessions" ADD CONSTRAINT "auth_user_sessions_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "auth_users" ADD CONSTRAINT "auth_users_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "provider_channels" ADD CONSTRAINT "provider_channels_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "provider_channels" ADD CONSTRAINT "provider_channels_type_provider_types_id_fk" FOREIGN KEY ("type") REFERENCES "public"."provider_types"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "provider_channels" ADD CONSTRAINT "provider_channels_owner_id_auth_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."auth_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "provider_channels" ADD CONSTRAINT "provider_channels_group_id_tenant_user_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."tenant_user_groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "provider_tokens" ADD CONSTRAINT "provider_tokens_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "provider_tokens" ADD CONSTRAINT "provider_tokens_user_id_auth_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."auth_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_conversation_summaries" ADD CONSTRAINT "chat_conversation_summaries_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_conversation_summaries" ADD CONSTRAINT "chat_conversation_summaries_conversation_id_chat_conversations_id_fk" FOREIGN KEY ("conversation_id") REFERENCES "public"."chat_conversations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_conversations" ADD CONSTRAINT "chat_conversations_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_conversations" ADD CONSTRAINT "chat_conversations_user_id_auth_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."auth_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "chat_conversations" ADD CONSTRAINT "chat_conversations_provider_channel_id_provider_channels_id_fk" FOREIGN KEY ("provider_channel_id") REFERENCES "public"."provider_channels"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memory_associations" ADD CONSTRAINT "memory_associations_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memory_associations" ADD CONSTRAINT "memory_associations_memory_id_memory_user_memories_id_fk" FOREIGN KEY ("memory_id") REFERENCES "public"."memory_user_memories"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memory_associations" ADD CONSTRAINT "memory_associations_related_memory_id_memory_user_memories_id_fk" FOREIGN KEY ("related_memory_id") REFERENCES "public"."memory_user_memories"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memory_user_memories" ADD CONSTRAINT "memory_user_memories_tenant_id_tenant_organizations_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenant_organizations"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "memory_user_memories" ADD CONSTRAINT "memory_user_memories_user_id_auth_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."auth_users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "idx_tenant_orgs_slug" ON "tenant_organizations" USING btree ("slug");--> statement-breakpoint
CREATE INDEX "idx_tenant_orgs_status" ON "tenant_organizations" USING btree ("status");--> statement-breakpoint
CREATE INDEX "idx_group_members_user" ON "tenant_user_group_members" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "idx_group_members_tenant" ON "tenant_user_group_members" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "idx_user_groups_tenant" ON "tenant_user_groups" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "idx_auth_oauth_connections_user" ON "auth_oauth_connections" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "idx_auth_sessions_user_id" ON "auth_user_sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "idx_auth_sessions_token" ON "auth_user_sessions" USING btree ("session_token");--> statement-breakpoint
CREATE INDEX "idx_auth_sessions_active" ON "auth_user_sessions" USING btree ("is_active");--> statement-breakpoint
CREATE INDEX "idx_auth_sessions_expires" ON "auth_user_sessions" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "idx_auth_sessions_tenant" ON "auth_user_sessions" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "idx_auth_users_tenant_id" ON "auth_users" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "idx_auth_users_email" ON "auth_users" USING btree ("email");--> statement-breakpoint
CREATE INDEX "idx_auth_users_role" ON "auth_users" USING btree ("role");--> statement-breakpoint
CREATE INDEX "idx_auth_users_active" ON "auth_users" USING btree ("is_active");--> statement-breakpoint
CREATE INDEX "idx_auth_users_status" ON "auth_users" USING btree ("tenant_id","status");--> statement-breakpoint
CREATE INDEX "idx_channels_tenant_scope" ON "provider_channels" USING btree ("tenant_id","config_scope");--> statement-breakpoint
CREATE INDEX "idx_channels_status" ON "provider_channels" USING btree ("status");--> statement-breakpoint
CREATE INDEX "idx_tokens_tenant_user" ON "provider_tokens" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE INDEX "idx_tokens_key" ON "provider_tokens" USING btree ("key");--> statement-breakpoint
CREATE INDEX "idx_summaries_conversation" ON "chat_conversation_summaries" USING btree ("conversation_id");--> statement-breakpoint
CREATE INDEX "idx_summaries_tenant" ON "chat_conversation_summaries" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "idx_conversations_tenant_user" ON "chat_conversations" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE INDEX "idx_conversations_status" ON "chat_conversations" USING btree ("status");--> statement-breakpoint
CREATE INDEX "idx_conversations_updated" ON "chat_conversations" USING btree ("tenant_id","updated_at");--> statement-breakpoint
CREATE INDEX "idx_memory_assoc_tenant" ON "memory_associations" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "idx_memories_tenant_user" ON "memory_user_memories" USING btree ("tenant_id","user_id");--> statement-breakpoint
CREATE INDEX "idx_memories_type" ON "memory_user_memories" USING btree ("memory_type");--> statement-breakpoint
CREATE INDEX "idx_memories_status" ON "memory_user_memories" USING btree ("status");