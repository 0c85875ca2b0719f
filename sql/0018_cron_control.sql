-- Cron at runtime (issue 16): an entry's overlap rule, a pause that holds across restarts and failovers of the cron
-- manager, and manual slots. Each slot keeps why it was skipped.

-- overlap: what a slot does while the entry's previous task still waits or runs. skip: the slot is skipped; queue:
-- the slot waits (status 'queued') and its task is enqueued when the previous one has ended; allow: enqueued anyway.
ALTER TABLE scheduler_recurrent_task
    ADD COLUMN overlap text NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'queue', 'allow')),
    ADD COLUMN paused_at timestamptz;

-- 'manual': a slot `pgdaemon cron run` added; 'queued': a slot waiting for the entry's previous task (overlap queue).
ALTER TABLE scheduler_cron_slot DROP CONSTRAINT scheduler_cron_slot_status_check;
ALTER TABLE scheduler_cron_slot ADD CONSTRAINT scheduler_cron_slot_status_check
    CHECK (status IN ('enqueued', 'skipped', 'manual', 'queued'));
-- Why a slot was skipped: missed (no cron manager ran at the time), paused, or overlap.
ALTER TABLE scheduler_cron_slot ADD COLUMN reason text;
