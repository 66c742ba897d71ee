CREATE TABLE `payment_application_claims` (
	`customer_id` text PRIMARY KEY NOT NULL,
	`holder` text NOT NULL,
	`expires_at` integer NOT NULL
);
