CREATE TABLE `restores` (
	`id` text PRIMARY KEY NOT NULL,
	`snapshot_taken_at` integer NOT NULL,
	`restored_at` integer NOT NULL,
	`released_at` integer,
	`released_by_sweep` text
);
