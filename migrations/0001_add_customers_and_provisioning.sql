CREATE TABLE `customers` (
	`id` text PRIMARY KEY NOT NULL,
	`telegram_bot_token` text,
	`owner_telegram_user_id` integer,
	`claude_credentials` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`shredded_at` integer
);
--> statement-breakpoint
CREATE TABLE `shared_resources` (
	`name` text PRIMARY KEY NOT NULL,
	`hetzner_id` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `instances` ADD `server_name` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `location` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `ssh_public_key` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `ssh_private_key` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `callback_token` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `callback_received_at` integer;--> statement-breakpoint
ALTER TABLE `instances` ADD `reported_host_key` text;--> statement-breakpoint
ALTER TABLE `instances` ADD `firewall_id` integer;--> statement-breakpoint
ALTER TABLE `instances` ADD `deprovisioned_at` integer;--> statement-breakpoint
CREATE INDEX `instances_customer` ON `instances` (`customer_id`);