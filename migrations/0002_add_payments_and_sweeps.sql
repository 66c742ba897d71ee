CREATE TABLE `payment_events` (
	`provider` text NOT NULL,
	`event_id` text NOT NULL,
	`type` text NOT NULL,
	`customer_id` text,
	`subscription_id` text,
	`occurred_at` integer NOT NULL,
	`received_at` integer NOT NULL,
	`payment_state` text,
	`outcome` text,
	`handled_at` integer,
	PRIMARY KEY(`provider`, `event_id`)
);
--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`provider` text NOT NULL,
	`subscription_id` text NOT NULL,
	`customer_id` text NOT NULL,
	`payment_state` text NOT NULL,
	`event_id` text NOT NULL,
	`event_occurred_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`provider`, `subscription_id`)
);
--> statement-breakpoint
CREATE INDEX `subscriptions_customer` ON `subscriptions` (`customer_id`);--> statement-breakpoint
CREATE TABLE `sweeps` (
	`id` text PRIMARY KEY NOT NULL,
	`trigger` text NOT NULL,
	`dry_run` integer NOT NULL,
	`status` text NOT NULL,
	`requested_at` integer NOT NULL,
	`started_at` integer,
	`finished_at` integer,
	`servers_seen` integer,
	`hetzner_requests` integer,
	`decisions` text,
	`error_code` text,
	`error_message` text
);
--> statement-breakpoint
CREATE INDEX `sweeps_requested` ON `sweeps` (`requested_at`);