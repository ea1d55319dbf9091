package efivar

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// BootOptionName is the variable name of load option num: Boot0001.
func BootOptionName(num uint16) string { return fmt.Sprintf("Boot%04X", num) }

// BootCurrent is the load option the firmware booted this time.
func BootCurrent(v Vars) (uint16, error) { return v.readUint16("BootCurrent") }

// BootNext is the load option the firmware boots next, once; an error
// that errors.Is fs.ErrNotExist if none is set.
func BootNext(v Vars) (uint16, error) { return v.readUint16("BootNext") }

// BootOrder is the order in which the firmware tries load options; empty
// if it is not set.
func BootOrder(v Vars) ([]uint16, error) {
	o, err := v.readUint16s("BootOrder")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return o, err
}

func (v Vars) readUint16(name string) (uint16, error) {
	ns, err := v.readUint16s(name)
	if err != nil {
		return 0, err
	}
	if len(ns) != 1 {
		return 0, v.err("reading", name, Global, fmt.Errorf("%d bytes, want 2: %w", 2*len(ns), ErrMalformed))
	}
	return ns[0], nil
}

// SetBootNext makes the firmware boot load option num on the next boot
// only.
func SetBootNext(v Vars, num uint16) error {
	return v.Write("BootNext", Global, AttrPersistent, uint16sBytes([]uint16{num}))
}

// ClearBootNext removes BootNext, if it is set.
func ClearBootNext(v Vars) error {
	if err := v.Delete("BootNext", Global); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ReadBootOption reads and parses Boot####.
func ReadBootOption(v Vars, num uint16) (LoadOption, error) {
	name := BootOptionName(num)
	_, data, err := v.Read(name, Global)
	if err != nil {
		return LoadOption{}, err
	}
	o, err := ParseLoadOption(data)
	if err != nil {
		return LoadOption{}, v.err("reading", name, Global, err)
	}
	return o, nil
}

// BootOptions lists the numbers of the Boot#### variables, in order. A
// name in lower-case hex, which the specification does not allow, is
// listed too: Register must not take its number.
func BootOptions(v Vars) ([]uint16, error) {
	ents, err := os.ReadDir(v.dir())
	if err != nil {
		return nil, v.err("listing", "Boot####", Global, unwrapPath(err))
	}
	suffix := "-" + Global.String()
	var nums []uint16
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || len(name) != 8 || !strings.HasPrefix(name, "Boot") {
			continue
		}
		n, err := strconv.ParseUint(name[4:], 16, 16)
		if err != nil {
			continue
		}
		nums = append(nums, uint16(n))
	}
	slices.Sort(nums)
	return slices.Compact(nums), nil
}

// Registration is what Register writes to make a load option the one
// the firmware tries first.
type Registration struct {
	Num uint16
	// Existing: Boot#### already had the description and device path.
	Existing bool
	// Option is the data to write to Boot####, nil if it already holds
	// it (with AttrPersistent).
	Option []byte
	// Order is the BootOrder to write, nil if it needs no change.
	Order []uint16
}

// PlanRegister says what Register would write, and writes nothing. It
// reuses the Boot#### that has opt's description and device path,
// rewriting it only if its attributes or optional data differ, or else
// takes the lowest number that no Boot#### and no BootOrder entry uses;
// then it puts that number first in BootOrder, once, and leaves the rest
// of BootOrder in its order.
func PlanRegister(v Vars, opt LoadOption) (Registration, error) {
	data, err := opt.Marshal()
	if err != nil {
		return Registration{}, err
	}
	order, err := BootOrder(v)
	if err != nil {
		return Registration{}, err
	}
	num, found, err := FindBootOption(v, opt)
	if err != nil {
		return Registration{}, err
	}
	if !found {
		if num, err = freeNumber(v, order); err != nil {
			return Registration{}, fmt.Errorf("registering %q: %w", opt.Description, err)
		}
	}
	r := Registration{Num: num, Existing: found, Option: data}
	if a, d, err := v.Read(BootOptionName(num), Global); found && err == nil && a == AttrPersistent && bytes.Equal(d, data) {
		r.Option = nil
	}
	newOrder := append([]uint16{num}, slices.DeleteFunc(slices.Clone(order), func(n uint16) bool { return n == num })...)
	if !slices.Equal(order, newOrder) {
		r.Order = newOrder
	}
	return r, nil
}

// Apply writes r: Boot#### before the BootOrder that names it.
func (r Registration) Apply(v Vars) error {
	if r.Option != nil {
		if err := v.Write(BootOptionName(r.Num), Global, AttrPersistent, r.Option); err != nil {
			return err
		}
	}
	if r.Order != nil {
		return v.Write("BootOrder", Global, AttrPersistent, uint16sBytes(r.Order))
	}
	return nil
}

// Register makes opt a boot entry the firmware tries first, as
// PlanRegister plans, and returns its number. It writes nothing that
// already holds what it would write, and no other variable.
func Register(v Vars, opt LoadOption) (num uint16, err error) {
	r, err := PlanRegister(v, opt)
	if err != nil {
		return 0, err
	}
	return r.Num, r.Apply(v)
}

// FindBootOption returns the lowest-numbered Boot#### with opt's
// description and device path. Options that do not parse are passed
// over.
func FindBootOption(v Vars, opt LoadOption) (num uint16, found bool, err error) {
	want, err := opt.FilePath.Marshal()
	if err != nil {
		return 0, false, err
	}
	nums, err := BootOptions(v)
	if err != nil {
		return 0, false, err
	}
	for _, n := range nums {
		o, err := ReadBootOption(v, n)
		if err != nil {
			continue // not ours to judge; its number stays taken
		}
		if got, err := o.FilePath.Marshal(); err == nil && o.Description == opt.Description && bytes.Equal(got, want) {
			return n, true, nil
		}
	}
	return 0, false, nil
}

// freeNumber is the lowest number no Boot#### and no BootOrder entry
// uses.
func freeNumber(v Vars, order []uint16) (uint16, error) {
	nums, err := BootOptions(v)
	if err != nil {
		return 0, err
	}
	for n := 0; n <= 0xffff; n++ {
		if !slices.Contains(nums, uint16(n)) && !slices.Contains(order, uint16(n)) {
			return uint16(n), nil
		}
	}
	return 0, errors.New("every Boot#### number is taken")
}

// Unregister takes num out of BootOrder and then removes Boot####. It
// leaves every other variable as it is, BootNext included.
func Unregister(v Vars, num uint16) error {
	order, err := BootOrder(v)
	if err != nil {
		return err
	}
	if slices.Contains(order, num) {
		order = slices.DeleteFunc(order, func(n uint16) bool { return n == num })
		if err := v.Write("BootOrder", Global, AttrPersistent, uint16sBytes(order)); err != nil {
			return err
		}
	}
	if err := v.Delete(BootOptionName(num), Global); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
