-- Report rows name a meeting by its title (from the meeting events), not only by its id.
ALTER TABLE meetings ADD COLUMN title text NOT NULL DEFAULT '';
