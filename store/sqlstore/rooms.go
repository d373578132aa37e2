package sqlstore

import (
	"context"

	"roomhub"
)

var _ roomhub.Rooms = (*Store)(nil)

const (
	qListRooms = `SELECT r.name, COUNT(m.uid), r.created_at FROM rooms r
		JOIN members m ON m.org_id = r.org_id AND m.room = r.name
		WHERE r.org_id = $1 GROUP BY r.name, r.created_at ORDER BY r.name`
	qRoomExists = `SELECT COUNT(*) FROM rooms WHERE org_id = $1 AND name = $2`
)

// ListRooms returns the organization's rooms that have members, by name.
func (s *Store) ListRooms(ctx context.Context, orgID int64) ([]roomhub.Room, error) {
	rows, err := s.db.QueryContext(ctx, qListRooms, orgID)
	if err != nil {
		return nil, s.fail(err)
	}
	defer rows.Close()
	var out []roomhub.Room
	for rows.Next() {
		var r roomhub.Room
		var created int64
		if err := rows.Scan(&r.Name, &r.Members, &created); err != nil {
			return nil, s.fail(err)
		}
		r.CreatedAt = fromMillis(created)
		out = append(out, r)
	}
	return out, s.fail(rows.Err())
}

// RoomExists reports whether the organization has (ever had) the room.
func (s *Store) RoomExists(ctx context.Context, orgID int64, room string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, qRoomExists, orgID, room).Scan(&n)
	return n > 0, s.fail(err)
}
