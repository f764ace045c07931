-- Those still waiting when registration closes or the meeting is over are told once: found by this index.
CREATE INDEX notifications_waitlist_ended ON notifications (registration_id) WHERE kind = 'waitlist_ended';
