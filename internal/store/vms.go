package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// VM is the stored record of one VM. Artifact paths are copied from the
// image at create time so later image changes do not move a VM's disks.
type VM struct {
	ID        string
	Name      string
	State     string
	ImageID   string
	ImageName string
	VCPUs     int
	MemoryMiB int
	DiskSize  int64
	NAT       bool
	IP        netip.Addr
	MAC       string
	TAP       string
	VMM       string
	Accel     string
	PID       int
	PIDStart  uint64
	Kernel    string
	Initrd    string
	Rootfs    string
	CreatedAt time.Time
	StartedAt time.Time
	LastError string
}

const vmColumns = `id, name, state, image_id, image_name, vcpus, memory_mib, disk_size, nat, ip, mac, tap, vmm, accel, pid, pid_start, kernel, initrd, rootfs, created_at, started_at, last_error`

type scanner interface{ Scan(...any) error }

func scanVM(r scanner) (VM, error) {
	var v VM
	var ip, created, started string
	var nat int
	err := r.Scan(&v.ID, &v.Name, &v.State, &v.ImageID, &v.ImageName, &v.VCPUs, &v.MemoryMiB, &v.DiskSize, &nat, &ip, &v.MAC, &v.TAP, &v.VMM, &v.Accel, &v.PID, &v.PIDStart, &v.Kernel, &v.Initrd, &v.Rootfs, &created, &started, &v.LastError)
	if err != nil {
		return VM{}, err
	}
	v.NAT = nat != 0
	v.IP, _ = netip.ParseAddr(ip)
	v.CreatedAt = parseTime(created)
	v.StartedAt = parseTime(started)
	return v, nil
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ErrNoAddress is returned when the bridge network has no free address.
var ErrNoAddress = errors.New("no free guest address left in bridge_cidr")

// CreateVM inserts v, allocating v.IP as the lowest free host address in
// network (after the gateway, which is the network's first address). The
// name must be unique. The allocation and insert are one transaction, so an
// address is never handed out twice.
func (s *Store) CreateVM(ctx context.Context, v *VM, network netip.Prefix) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM vms WHERE name = ?`, v.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("vm name %q: %w", v.Name, ErrConflict)
		}
		used := map[netip.Addr]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT ip FROM vms`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var ip string
			if err := rows.Scan(&ip); err != nil {
				rows.Close()
				return err
			}
			if a, err := netip.ParseAddr(ip); err == nil {
				used[a] = true
			}
		}
		rows.Close()
		ip, err := allocate(network, used)
		if err != nil {
			return err
		}
		v.IP = ip
		_, err = tx.ExecContext(ctx, `INSERT INTO vms (`+vmColumns+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			v.ID, v.Name, v.State, v.ImageID, v.ImageName, v.VCPUs, v.MemoryMiB, v.DiskSize, boolInt(v.NAT), v.IP.String(), v.MAC, v.TAP, v.VMM, v.Accel, v.PID, v.PIDStart, v.Kernel, v.Initrd, v.Rootfs, formatTime(v.CreatedAt), formatTime(v.StartedAt), v.LastError)
		if isUniqueViolation(err) {
			return fmt.Errorf("vm name %q: %w", v.Name, ErrConflict)
		}
		return err
	})
}

// allocate returns the lowest address of network that is not the network
// address, the gateway (first host), the broadcast address or used.
func allocate(network netip.Prefix, used map[netip.Addr]bool) (netip.Addr, error) {
	network = network.Masked()
	gw := network.Addr().Next()
	for a := gw.Next(); network.Contains(a); a = a.Next() {
		if !network.Contains(a.Next()) { // broadcast
			break
		}
		if !used[a] {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: %w", network, ErrNoAddress)
}

// GetVM returns the VM with id.
func (s *Store) GetVM(ctx context.Context, id string) (VM, error) {
	v, err := scanVM(s.db.QueryRowContext(ctx, `SELECT `+vmColumns+` FROM vms WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return VM{}, fmt.Errorf("vm %s: %w", id, ErrNotFound)
	}
	return v, err
}

// ListVMs returns every VM ordered by creation time.
func (s *Store) ListVMs(ctx context.Context) ([]VM, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+vmColumns+` FROM vms ORDER BY created_at, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []VM
	for rows.Next() {
		v, err := scanVM(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdateVM reads the VM, applies fn and writes it back in one transaction.
// Name, id and address never change.
func (s *Store) UpdateVM(ctx context.Context, id string, fn func(*VM) error) (VM, error) {
	var out VM
	err := s.tx(ctx, func(tx *sql.Tx) error {
		v, err := scanVM(tx.QueryRowContext(ctx, `SELECT `+vmColumns+` FROM vms WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("vm %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE vms SET state=?, vcpus=?, memory_mib=?, disk_size=?, nat=?, tap=?, vmm=?, accel=?, pid=?, pid_start=?, started_at=?, last_error=? WHERE id=?`,
			v.State, v.VCPUs, v.MemoryMiB, v.DiskSize, boolInt(v.NAT), v.TAP, v.VMM, v.Accel, v.PID, v.PIDStart, formatTime(v.StartedAt), v.LastError, id)
		out = v
		return err
	})
	return out, err
}

// DeleteVM removes the record, which also frees its address.
func (s *Store) DeleteVM(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM vms WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("vm %s: %w", id, ErrNotFound)
	}
	return nil
}

// ResolveVM finds a VM by exact name, exact id, or unique id prefix.
func (s *Store) ResolveVM(ctx context.Context, ref string) (VM, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM vms`)
	if err != nil {
		return VM{}, err
	}
	var cands []refCandidate
	for rows.Next() {
		var c refCandidate
		if err := rows.Scan(&c.id, &c.name); err != nil {
			rows.Close()
			return VM{}, err
		}
		cands = append(cands, c)
	}
	rows.Close()
	id, err := resolve(ref, cands)
	if err != nil {
		return VM{}, fmt.Errorf("vm %w", err)
	}
	return s.GetVM(ctx, id)
}

// NameTaken reports whether a VM already has name.
func (s *Store) NameTaken(ctx context.Context, name string) bool {
	var n int
	s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM vms WHERE name = ?`, name).Scan(&n)
	return n > 0
}
