package booking

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SchemaVersion is the version of the PostgreSQL schema this poolside
// writes and reads, recorded in the table poolside_schema. A database that
// holds another version is refused (ErrSchemaVersion) rather than used:
// a later poolside that changes the schema migrates it from this one.
const SchemaVersion = 1

// schemaLock is the key of the advisory lock under which a PostgresStore
// creates or checks the schema, so that instances starting together
// create it once ("pool" in ASCII, arbitrary but fixed).
const schemaLock = 0x706f6f6c

// The schema, version 1.
//
// poolside_bookings holds one row per booking; its primary key (day, room)
// is the rule "no room twice on a date", kept by the database across every
// instance. poolside_days holds, per date, the number of bookings n: the
// rule "at most limit bookings on a date" is the conditional upsert in
// poolside_book, which locks the date's row, so two instances can never
// both see 4 and both book (as a count followed by an insert would under
// READ COMMITTED). Every write takes its date's row before it touches a
// booking of that date, and poolside_write applies a batch in date order,
// so that concurrent transactions wait only for date rows, in ascending
// order, and cannot deadlock.
//
// poolside_write carries a batch of bookings and cancellations in one
// statement: one round trip and one commit for all of them (see
// writeBatcher). Each keeps its own outcome: a refusal is a code, not an
// error, so it never undoes the others.
//
// Dates are Julian day numbers as on the wire (wire.Date), rooms the
// protocol's three digits.
var schemaV1 = []string{
	`CREATE TABLE poolside_bookings (
		day  bigint NOT NULL,
		room text   NOT NULL,
		PRIMARY KEY (day, room)
	)`,
	`CREATE INDEX poolside_bookings_room ON poolside_bookings (room, day)`,
	`CREATE TABLE poolside_days (
		day bigint  PRIMARY KEY,
		n   integer NOT NULL CHECK (n >= 0)
	)`,
	`CREATE FUNCTION poolside_book(p_day bigint, p_room text, p_limit integer) RETURNS integer
	LANGUAGE plpgsql AS $$
	BEGIN
		IF p_limit >= 1 THEN
			INSERT INTO poolside_days AS d (day, n) VALUES (p_day, 1)
				ON CONFLICT (day) DO UPDATE SET n = d.n + 1 WHERE d.n < p_limit;
		END IF;
		IF p_limit < 1 OR NOT FOUND THEN
			-- Full: the date's row is locked all the same.
			PERFORM 1 FROM poolside_bookings WHERE day = p_day AND room = p_room;
			IF FOUND THEN
				RETURN 1;
			END IF;
			RETURN 2;
		END IF;
		INSERT INTO poolside_bookings (day, room) VALUES (p_day, p_room) ON CONFLICT DO NOTHING;
		IF NOT FOUND THEN
			UPDATE poolside_days SET n = n - 1 WHERE day = p_day;
			RETURN 1; -- the room is booked on the date already
		END IF;
		RETURN 0;
	END $$`,
	`CREATE FUNCTION poolside_unbook(p_day bigint, p_room text) RETURNS integer
	LANGUAGE plpgsql AS $$
	BEGIN
		PERFORM 1 FROM poolside_days WHERE day = p_day FOR UPDATE;
		IF NOT FOUND THEN
			RETURN 3; -- nothing was ever booked on the date
		END IF;
		DELETE FROM poolside_bookings WHERE day = p_day AND room = p_room;
		IF NOT FOUND THEN
			RETURN 3;
		END IF;
		UPDATE poolside_days SET n = n - 1 WHERE day = p_day;
		RETURN 0;
	END $$`,
	`CREATE FUNCTION poolside_write(p_unbook integer[], p_days bigint[], p_rooms text[], p_limits integer[]) RETURNS integer[]
	LANGUAGE plpgsql AS $$
	DECLARE
		codes integer[] := '{}';
	BEGIN
		FOR i IN 1 .. coalesce(array_length(p_days, 1), 0) LOOP
			IF p_unbook[i] = 1 THEN
				codes := codes || poolside_unbook(p_days[i], p_rooms[i]);
			ELSE
				codes := codes || poolside_book(p_days[i], p_rooms[i], p_limits[i]);
			END IF;
		END LOOP;
		RETURN codes;
	END $$`,
}

// The codes poolside_book, poolside_unbook and poolside_write return.
const (
	bookedCode    = 0 // booked, or cancelled
	duplicateCode = 1
	fullCode      = 2
	notBookedCode = 3
)

// ensureSchema creates the schema in an empty database, or checks the
// version of the one there, under the advisory lock.
func ensureSchema(ctx context.Context, conn *pgx.Conn) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Another instance that holds the lock and hangs must not hang
		// this one's start.
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '30s'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(schemaLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS poolside_schema (version integer NOT NULL, created timestamptz NOT NULL DEFAULT now())"); err != nil {
			return err
		}
		var version int
		err := tx.QueryRow(ctx, "SELECT max(version) FROM poolside_schema HAVING count(*) > 0").Scan(&version)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			for _, stmt := range schemaV1 {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			_, err = tx.Exec(ctx, "INSERT INTO poolside_schema (version) VALUES ($1)", SchemaVersion)
			return err
		case err != nil:
			return err
		case version != SchemaVersion:
			return fmt.Errorf("%w: the database holds poolside schema version %d; this poolside reads version %d", ErrSchemaVersion, version, SchemaVersion)
		}
		return nil
	})
}
