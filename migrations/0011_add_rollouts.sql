CREATE TABLE `rollout_members` (
	`rollout_id` text NOT NULL,
	`instance_id` text NOT NULL,
	`position` integer NOT NULL,
	`from_bundle_id` text,
	`outcome` text NOT NULL,
	`operation_id` text,
	`rollback_operation_id` text,
	`detail` text,
	`started_at` integer,
	`finished_at` integer,
	PRIMARY KEY(`rollout_id`, `instance_id`),
	FOREIGN KEY (`rollout_id`) REFERENCES `rollouts`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`instance_id`) REFERENCES `instances`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `rollout_members_position` ON `rollout_members` (`rollout_id`,`position`);--> statement-breakpoint
CREATE TABLE `rollouts` (
	`id` text PRIMARY KEY NOT NULL,
	`bundle_id` text NOT NULL,
	`architecture` text NOT NULL,
	`canary` integer NOT NULL,
	`batch_size` integer NOT NULL,
	`max_failures` integer NOT NULL,
	`status` text NOT NULL,
	`promoted_at` integer,
	`halt_reason` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE INDEX `rollouts_created` ON `rollouts` (`created_at`);