CREATE TABLE `bundle_grants` (
	`id` text PRIMARY KEY NOT NULL,
	`instance_id` text NOT NULL,
	`purpose` text NOT NULL,
	`bundle_id` text NOT NULL,
	`token` text NOT NULL,
	`expires_at` integer NOT NULL,
	`ended_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`instance_id`) REFERENCES `instances`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `bundle_grants_instance` ON `bundle_grants` (`instance_id`);--> statement-breakpoint
ALTER TABLE `instances` ADD `bundle_id` text;