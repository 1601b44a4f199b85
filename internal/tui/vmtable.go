package tui

import (
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"

	"banger/internal/api"
	"banger/internal/humanize"
)

// vmTable is the VM list: a bubbles table whose selection follows a VM's
// id across refreshes, so a VM that changes position keeps the cursor.
type vmTable struct {
	t   table.Model
	ids []string
}

// Fixed column widths; NAME takes what is left of the terminal.
var vmColumns = []table.Column{
	{Title: "NAME"}, {Title: "STATE", Width: 8}, {Title: "IP", Width: 15}, {Title: "VCPU", Width: 4},
	{Title: "MEMORY", Width: 9}, {Title: "DISK", Width: 8}, {Title: "NAT", Width: 3}, {Title: "UPTIME", Width: 7},
}

const (
	minNameWidth = 10
	maxNameWidth = 32
)

func newVMTable(keys KeyMap, st Styles) vmTable {
	t := table.New(
		table.WithColumns(columnsFor(80)),
		table.WithKeyMap(keys.tableKeyMap()),
		table.WithStyles(st.Table),
		table.WithFocused(true),
	)
	return vmTable{t: t}
}

// columnsFor fits the columns to width (each column has one cell of
// padding on its right).
func columnsFor(width int) []table.Column {
	cols := make([]table.Column, len(vmColumns))
	copy(cols, vmColumns)
	used := 0
	for _, c := range cols[1:] {
		used += c.Width + 1
	}
	cols[0].Width = min(max(width-used-1, minNameWidth), maxNameWidth)
	return cols
}

func (v *vmTable) setVMs(vms []api.VM, now time.Time) {
	selected := v.selectedID()
	rows := make([]table.Row, len(vms))
	v.ids = make([]string, len(vms))
	cursor := 0
	for i, vm := range vms {
		rows[i] = vmRow(vm, now)
		v.ids[i] = vm.ID
		if vm.ID == selected {
			cursor = i
		}
	}
	v.t.SetRows(rows)
	v.t.SetCursor(cursor)
}

func vmRow(vm api.VM, now time.Time) table.Row {
	nat := "-"
	if vm.NAT {
		nat = "on"
	}
	up := "-"
	if vm.State == api.StateRunning && vm.StartedAt != nil {
		up = humanize.Duration(now.Sub(*vm.StartedAt))
	}
	ip := vm.IP
	if ip == "" {
		ip = "-"
	}
	return table.Row{vm.Name, vm.State, ip, fmt.Sprint(vm.VCPUs), humanize.MiB(vm.MemoryMiB), humanize.Bytes(vm.DiskSize), nat, up}
}

// setSize gives the table its width and the number of VM rows to show.
func (v *vmTable) setSize(width, rows int) {
	v.t.SetColumns(columnsFor(width))
	v.t.SetWidth(width)
	v.t.SetHeight(rows + 1) // + header
}

func (v vmTable) selectedID() string {
	c := v.t.Cursor()
	if c < 0 || c >= len(v.ids) {
		return ""
	}
	return v.ids[c]
}

func (v vmTable) update(msg tea.KeyMsg) vmTable {
	v.t, _ = v.t.Update(msg)
	return v
}

func (v vmTable) view() string { return v.t.View() }
