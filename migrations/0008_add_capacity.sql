CREATE TABLE `project_capacity` (
	`project` text PRIMARY KEY NOT NULL,
	`full_at` integer NOT NULL,
	`full_at_limit` integer
);
--> statement-breakpoint
ALTER TABLE `instances` ADD `hetzner_project` text;