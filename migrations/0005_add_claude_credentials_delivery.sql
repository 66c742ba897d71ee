ALTER TABLE `customers` ADD `claude_credentials_version` integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE `customers` ADD `claude_credentials_server_id` integer;--> statement-breakpoint
ALTER TABLE `instances` ADD `claude_credentials_version` integer;--> statement-breakpoint
ALTER TABLE `instances` ADD `claude_relogin_reason` text;--> statement-breakpoint
-- Servers that already run the bot got the stored credentials: from now on they own them.
UPDATE `instances` SET `claude_credentials_version` = 1 WHERE `hetzner_server_id` IS NOT NULL AND `status` IN ('ready', 'reconfiguring', 'degraded');--> statement-breakpoint
UPDATE `customers` SET `claude_credentials_server_id` = (SELECT `hetzner_server_id` FROM `instances` WHERE `instances`.`customer_id` = `customers`.`id` AND `instances`.`claude_credentials_version` IS NOT NULL ORDER BY `instances`.`created_at` DESC LIMIT 1);
