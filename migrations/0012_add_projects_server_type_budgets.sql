CREATE TABLE `hetzner_budgets` (
	`project` text PRIMARY KEY NOT NULL,
	`request_limit` integer,
	`remaining` integer,
	`requests` integer NOT NULL,
	`rate_limited` integer NOT NULL,
	`observed_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `instances` ADD `server_type` text;