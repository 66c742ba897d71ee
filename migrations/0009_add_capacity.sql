CREATE TABLE `project_capacity` (
	`project` text PRIMARY KEY NOT NULL,
	`full_at` integer NOT NULL,
	`full_at_limit` integer
);
--> statement-breakpoint
ALTER TABLE `instances` ADD `hetzner_project` text;--> statement-breakpoint
-- Servers made before projects were recorded are in the one project there was.
UPDATE `instances` SET `hetzner_project` = 'default' WHERE `hetzner_server_id` IS NOT NULL OR `status` = 'provisioning';