ALTER TABLE `sweeps` ADD `owner` text;--> statement-breakpoint
ALTER TABLE `sweeps` ADD `lease_expires_at` integer;