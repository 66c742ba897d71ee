CREATE TABLE `instances` (
	`id` text PRIMARY KEY NOT NULL,
	`customer_id` text,
	`status` text DEFAULT 'new' NOT NULL,
	`current_step` text,
	`hetzner_server_id` integer,
	`ssh_key_id` integer,
	`ipv4` text,
	`ipv6` text,
	`error_step` text,
	`error_code` text,
	`error_message` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`ready_at` integer,
	`lease_owner` text,
	`lease_expires_at` integer,
	`lease_token` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE `operations` (
	`id` text PRIMARY KEY NOT NULL,
	`instance_id` text NOT NULL,
	`operation` text NOT NULL,
	`seq` integer NOT NULL,
	`status` text NOT NULL,
	`run` integer DEFAULT 1 NOT NULL,
	`wait_signal` text,
	`wait_deadline` integer,
	`error_step` text,
	`error_code` text,
	`error_message` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`finished_at` integer,
	FOREIGN KEY (`instance_id`) REFERENCES `instances`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `operations_instance_operation_seq` ON `operations` (`instance_id`,`operation`,`seq`);--> statement-breakpoint
CREATE INDEX `operations_status` ON `operations` (`status`);--> statement-breakpoint
CREATE TABLE `signals` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`instance_id` text NOT NULL,
	`name` text NOT NULL,
	`data` text NOT NULL,
	`received_at` integer NOT NULL,
	`consumed_at` integer,
	FOREIGN KEY (`instance_id`) REFERENCES `instances`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `signals_pending` ON `signals` (`instance_id`,`name`) WHERE "signals"."consumed_at" is null;--> statement-breakpoint
CREATE TABLE `step_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`instance_id` text NOT NULL,
	`operation_id` text NOT NULL,
	`run` integer NOT NULL,
	`step` text NOT NULL,
	`kind` text NOT NULL,
	`attempt` integer NOT NULL,
	`status` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`duration_ms` integer,
	`error_code` text,
	`error_message` text,
	`output` text,
	FOREIGN KEY (`instance_id`) REFERENCES `instances`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`operation_id`) REFERENCES `operations`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `step_runs_operation_step` ON `step_runs` (`operation_id`,`step`);