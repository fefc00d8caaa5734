package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/floemail/floe/storage"
)

// Groups returns every group with its members (storage.Groups).
func (s *Store) Groups(ctx context.Context) ([]storage.Group, error) {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, dbErr("groups", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, "SELECT address, source, created FROM mailgroups ORDER BY address")
	if err != nil {
		return nil, dbErr("groups", err)
	}
	var out []storage.Group
	idx := map[string]int{}
	for rows.Next() {
		var g storage.Group
		var created int64
		if err := rows.Scan(&g.Address, &g.Source, &created); err != nil {
			rows.Close()
			return nil, dbErr("groups", err)
		}
		g.Created = time.Unix(created, 0).UTC()
		idx[g.Address] = len(out)
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, dbErr("groups", err)
	}
	rows, err = tx.QueryContext(ctx, "SELECT grp, member FROM group_members ORDER BY grp, member")
	if err != nil {
		return nil, dbErr("groups", err)
	}
	defer rows.Close()
	for rows.Next() {
		var g, m string
		if err := rows.Scan(&g, &m); err != nil {
			return nil, dbErr("groups", err)
		}
		if i, ok := idx[g]; ok {
			out[i].Members = append(out[i].Members, m)
		}
	}
	return out, dbErr("groups", rows.Err())
}

func getGroup(q querier, addr string) (storage.Group, error) {
	var g storage.Group
	var created int64
	err := q.QueryRow("SELECT address, source, created FROM mailgroups WHERE address = ?", addr).Scan(&g.Address, &g.Source, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("group %s: %w", addr, storage.ErrNotFound)
	}
	if err != nil {
		return g, dbErr("group", err)
	}
	g.Created = time.Unix(created, 0).UTC()
	rows, err := q.Query("SELECT member FROM group_members WHERE grp = ? ORDER BY member", addr)
	if err != nil {
		return g, dbErr("group", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return g, dbErr("group", err)
		}
		g.Members = append(g.Members, m)
	}
	return g, dbErr("group", rows.Err())
}

// Group returns one group with its members (ErrNotFound).
func (s *Store) Group(ctx context.Context, address string) (storage.Group, error) {
	addr, _, err := normAddress(address)
	if err != nil {
		return storage.Group{}, fmt.Errorf("group %q: %w", address, storage.ErrNotFound)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return storage.Group{}, dbErr("group", err)
	}
	defer tx.Rollback()
	return getGroup(tx, addr)
}

// memberAccount checks that member is an account address and returns it
// normalised (ErrNoAccount).
func (w *wtx) memberAccount(member string) (string, error) {
	m, _, err := normAddress(member)
	if err != nil {
		return "", fmt.Errorf("member %q: %w", member, storage.ErrNoAccount)
	}
	var n int
	if err := w.queryRow("SELECT count(*) FROM accounts WHERE address = ? AND kind = ''", m).Scan(&n); err != nil {
		return "", dbErr("group member", err)
	}
	if n == 0 {
		return "", fmt.Errorf("member %s: %w", m, storage.ErrNoAccount)
	}
	return m, nil
}

// PutGroup creates or updates a group with its whole member list.
func (s *Store) PutGroup(ctx context.Context, g storage.Group) error {
	addr, domain, err := normAddress(g.Address)
	if err != nil {
		return err
	}
	src, err := normSource(g.Source)
	if err != nil {
		return err
	}
	created := g.Created
	if created.IsZero() {
		created = time.Now()
	}
	return s.write(ctx, "put group", func(w *wtx) error {
		var n int
		if err := w.queryRow("SELECT count(*) FROM domains WHERE name = ?", domain).Scan(&n); err != nil {
			return dbErr("put group", err)
		}
		if n == 0 {
			return fmt.Errorf("domain %s: %w", domain, storage.ErrNoDomain)
		}
		if err := w.queryRow("SELECT (SELECT count(*) FROM accounts WHERE address = ?) + (SELECT count(*) FROM aliases WHERE address = ?)",
			addr, addr).Scan(&n); err != nil {
			return dbErr("put group", err)
		}
		if n > 0 {
			return fmt.Errorf("%s is an account or an alias: %w", addr, storage.ErrExists)
		}
		want := make([]string, 0, len(g.Members))
		for _, m := range g.Members {
			m, err := w.memberAccount(m)
			if err != nil {
				return err
			}
			want = append(want, m)
		}
		slices.Sort(want)
		want = slices.Compact(want)
		if _, err := w.exec(`INSERT INTO mailgroups(address, domain, source, created) VALUES (?, ?, ?, ?)
			ON CONFLICT(address) DO UPDATE SET source = excluded.source`, addr, domain, string(src), created.Unix()); err != nil {
			return dbErr("put group", err)
		}
		cur, err := getGroup(w, addr)
		if err != nil {
			return err
		}
		// Change only what differs, so that an unchanged list does not
		// move ACLVersion.
		for _, m := range cur.Members {
			if _, found := slices.BinarySearch(want, m); !found {
				if _, err := w.exec("DELETE FROM group_members WHERE grp = ? AND member = ?", addr, m); err != nil {
					return dbErr("put group", err)
				}
			}
		}
		for _, m := range want {
			if !slices.Contains(cur.Members, m) {
				if _, err := w.exec("INSERT INTO group_members(grp, member) VALUES (?, ?)", addr, m); err != nil {
					return dbErr("put group", err)
				}
			}
		}
		return nil
	})
}

// DeleteGroup removes a group, its members and the ACL entries naming it
// (a trigger does the last two).
func (s *Store) DeleteGroup(ctx context.Context, address string) error {
	addr, _, err := normAddress(address)
	if err != nil {
		return fmt.Errorf("group %q: %w", address, storage.ErrNotFound)
	}
	return s.write(ctx, "delete group", func(w *wtx) error {
		res, err := w.exec("DELETE FROM mailgroups WHERE address = ?", addr)
		if err != nil {
			return dbErr("delete group", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("group %s: %w", addr, storage.ErrNotFound)
		}
		return nil
	})
}

// AddGroupMember adds an account to a group.
func (s *Store) AddGroupMember(ctx context.Context, group, member string) error {
	addr, _, err := normAddress(group)
	if err != nil {
		return fmt.Errorf("group %q: %w", group, storage.ErrNotFound)
	}
	return s.write(ctx, "add group member", func(w *wtx) error {
		if _, err := getGroup(w, addr); err != nil {
			return err
		}
		m, err := w.memberAccount(member)
		if err != nil {
			return err
		}
		_, err = w.exec("INSERT INTO group_members(grp, member) VALUES (?, ?)", addr, m)
		return dbErr("add group member", err)
	})
}

// RemoveGroupMember removes a member of a group.
func (s *Store) RemoveGroupMember(ctx context.Context, group, member string) error {
	addr, _, err := normAddress(group)
	if err != nil {
		return fmt.Errorf("group %q: %w", group, storage.ErrNotFound)
	}
	m, _, err := normAddress(member)
	if err != nil {
		return fmt.Errorf("member %q: %w", member, storage.ErrNotFound)
	}
	return s.write(ctx, "remove group member", func(w *wtx) error {
		if _, err := getGroup(w, addr); err != nil {
			return err
		}
		res, err := w.exec("DELETE FROM group_members WHERE grp = ? AND member = ?", addr, m)
		if err != nil {
			return dbErr("remove group member", err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("%s is not a member of %s: %w", m, addr, storage.ErrNotFound)
		}
		return nil
	})
}

// MemberOf returns the groups address belongs to, sorted.
func (s *Store) MemberOf(ctx context.Context, address string) ([]string, error) {
	m, _, err := normAddress(address)
	if err != nil {
		return nil, nil
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT grp FROM group_members WHERE member = ? ORDER BY grp", m)
	if err != nil {
		return nil, dbErr("member of", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, dbErr("member of", err)
		}
		out = append(out, g)
	}
	return out, dbErr("member of", rows.Err())
}
