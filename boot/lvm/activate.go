package lvm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Volume is a logical volume and the read-only table that maps it.
type Volume struct {
	VG, LV string
	// Name is the device-mapper name lvm gives it ("vg-lv", dashes in
	// either doubled), UUID its device-mapper UUID ("LVM-" VG id LV id).
	Name, UUID string
	Targets    []sys.DMTarget
	// Err says why the volume cannot be mapped (a segment type that is
	// not linear, a missing PV); Targets is then empty.
	Err error
}

// Plan returns the logical volumes of a volume group's metadata text. pvs
// maps the UUIDs (without dashes) of the physical volumes present to their
// "major:minor".
func Plan(text string, pvs map[string]string) (vg string, vols []Volume, seqno int64, err error) {
	root, err := parseConfig(text)
	if err != nil {
		return "", nil, 0, err
	}
	var g *section
	for _, s := range root.sections {
		if _, ok := s.values["seqno"]; ok && s.str("id") != "" {
			g = s
			break
		}
	}
	if g == nil {
		return "", nil, 0, errors.New("no volume group in the metadata")
	}
	seqno, _ = g.num("seqno")
	extent, ok := g.num("extent_size")
	if !ok || extent <= 0 {
		return g.name, nil, seqno, fmt.Errorf("volume group %s: no extent_size", g.name)
	}
	type pvInfo struct {
		dev     string
		peStart int64
		id      string
	}
	pvsOf := map[string]pvInfo{}
	if ps := g.sub("physical_volumes"); ps != nil {
		for _, p := range ps.sections {
			start, _ := p.num("pe_start")
			pvsOf[p.name] = pvInfo{dev: pvs[cleanUUID(p.str("id"))], peStart: start, id: p.str("id")}
		}
	}
	lvs := g.sub("logical_volumes")
	if lvs == nil {
		return g.name, nil, seqno, nil
	}
	for _, l := range lvs.sections {
		if !slices.Contains(l.strs("status"), "VISIBLE") {
			continue // internal volumes (RAID images, thin metadata)
		}
		v := Volume{VG: g.name, LV: l.name, Name: dmName(g.name, l.name), UUID: "LVM-" + cleanUUID(g.str("id")) + cleanUUID(l.str("id"))}
		v.Targets, v.Err = targets(l, extent, func(name string) (string, int64, error) {
			p, ok := pvsOf[name]
			switch {
			case !ok:
				return "", 0, fmt.Errorf("names %s, which the volume group does not have", name)
			case p.dev == "":
				return "", 0, fmt.Errorf("physical volume %s (%s) is missing", name, p.id)
			}
			return p.dev, p.peStart, nil
		})
		vols = append(vols, v)
	}
	return g.name, vols, seqno, nil
}

func targets(l *section, extent int64, pv func(string) (string, int64, error)) ([]sys.DMTarget, error) {
	var segs []*section
	for _, s := range l.sections {
		if strings.HasPrefix(s.name, "segment") {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return nil, errors.New("has no segments")
	}
	var out []sys.DMTarget
	for _, s := range segs {
		start, ok1 := s.num("start_extent")
		count, ok2 := s.num("extent_count")
		if !ok1 || !ok2 || start < 0 || count <= 0 {
			return nil, fmt.Errorf("%s: bad extents", s.name)
		}
		if t := s.str("type"); t != "striped" {
			return nil, fmt.Errorf("is a %s volume, which warmboot does not map (only linear volumes)", t)
		}
		if n, _ := s.num("stripe_count"); n != 1 {
			return nil, fmt.Errorf("is striped over %d volumes, which warmboot does not map (only linear volumes)", n)
		}
		st, _ := s.values["stripes"].([]any)
		if len(st) != 2 {
			return nil, fmt.Errorf("%s: bad stripes", s.name)
		}
		name, _ := st[0].(string)
		first, ok := st[1].(int64)
		if !ok || first < 0 {
			return nil, fmt.Errorf("%s: bad stripe start", s.name)
		}
		dev, peStart, err := pv(name)
		if err != nil {
			return nil, err
		}
		out = append(out, sys.DMTarget{
			Start: uint64(start * extent), Length: uint64(count * extent), Type: "linear",
			Params: fmt.Sprintf("%s %d", dev, peStart+first*extent),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	for i, t := range out {
		if want := uint64(0); i > 0 {
			want = out[i-1].Start + out[i-1].Length
			if t.Start != want {
				return nil, errors.New("segments leave a gap")
			}
		} else if t.Start != want {
			return nil, errors.New("segments do not start at 0")
		}
	}
	return out, nil
}

func dmName(vg, lv string) string {
	return strings.ReplaceAll(vg, "-", "--") + "-" + strings.ReplaceAll(lv, "-", "--")
}

// Result is what Activate did with one logical volume.
type Result struct {
	Volume
	PVs    []string // the devices it is on
	Device string   // "dm-0" once mapped
}

func (r Result) String() string {
	s := fmt.Sprintf("LVM volume %s/%s on %s", r.VG, r.LV, strings.Join(r.PVs, ", "))
	if r.Err != nil {
		return s + ": not mapped: " + r.Err.Error()
	}
	return s + " as " + r.Device + " (read-only)"
}

// Activator maps the logical volumes of the physical volumes it is shown.
// Sys and Dev are root paths (tests lay out a fake /sys and /dev); Create
// makes a device-mapper device (sys.DMCreateReadOnly on a real system).
type Activator struct {
	Sys, Dev string
	Create   func(name, uuid string, targets []sys.DMTarget) (string, error)
	// Need, if set, is called before the first volume is mapped, so the
	// device-mapper module can be loaded (group "dm").
	Need func(group string)
	done map[string]bool
	// probed is what each device read once holds, nil when it is no PV:
	// its content does not change under a read-only bootloader, and
	// discovery passes repeat every 200 ms while disks appear.
	probed map[string]*pvProbe
	needed bool
}

// New returns an Activator for the running system.
func New() *Activator {
	return &Activator{Sys: "/sys", Dev: "/dev", Create: sys.DMCreateReadOnly}
}

// Probe reads a device's PV label and the newest metadata in its areas.
func (a *Activator) Probe(device string) (pv PV, text string, err error) {
	f, err := os.Open(filepath.Join(a.Dev, device))
	if err != nil {
		return PV{}, "", err
	}
	defer f.Close()
	head := make([]byte, labelScan)
	n, _ := io.ReadFull(f, head)
	pv, ok := ParseLabel(head[:n])
	if !ok {
		return PV{}, "", errNotPV
	}
	err = ErrNoMetadata
	for _, m := range pv.MDAs {
		size := min(m[1], maxMetadata+512)
		area := make([]byte, size)
		if n, _ := f.ReadAt(area, int64(m[0])); uint64(n) < size {
			err = fmt.Errorf("reading its metadata area: short read")
			continue
		}
		if text, err = MetadataText(area); err == nil {
			return pv, text, nil
		}
	}
	return pv, "", err
}

var errNotPV = errors.New("not an LVM physical volume")

// pvProbe is a PV's UUID, device number and newest metadata text (empty
// when its metadata areas hold none, as a PV's may).
type pvProbe struct {
	uuid, majmin, text string
}

func (a *Activator) probe(device string) *pvProbe {
	pv, text, err := a.Probe(device)
	if errors.Is(err, errNotPV) || err != nil && pv.UUID == "" {
		return nil
	}
	mm, _ := os.ReadFile(filepath.Join(a.Sys, "class/block", device, "dev"))
	return &pvProbe{uuid: pv.UUID, majmin: strings.TrimSpace(string(mm)), text: text}
}

// Activate maps the volumes of every volume group whose PVs are among
// devices, once each. It returns one Result per visible volume.
func (a *Activator) Activate(devices []string) []Result {
	if a.done == nil {
		a.done, a.probed = map[string]bool{}, map[string]*pvProbe{}
	}
	pvDev := map[string]string{}  // PV UUID -> "major:minor"
	pvName := map[string]string{} // PV UUID -> "sda2"
	var texts []string
	for _, d := range devices {
		p, seen := a.probed[d]
		if !seen {
			p = a.probe(d)
			a.probed[d] = p
		}
		if p == nil {
			continue
		}
		pvDev[p.uuid], pvName[p.uuid] = p.majmin, d
		if p.text != "" {
			texts = append(texts, p.text)
		}
	}
	// Each VG once, from the PV with the newest metadata.
	var order []string
	newest := map[string]int64{}
	var plans = map[string][]Volume{}
	for _, text := range texts {
		vg, vols, seq, err := Plan(text, pvDev)
		if err != nil || a.done[vg] {
			continue
		}
		if _, ok := newest[vg]; !ok {
			order = append(order, vg)
		} else if seq <= newest[vg] {
			continue
		}
		newest[vg], plans[vg] = seq, vols
	}
	var out []Result
	for _, vg := range order {
		a.done[vg] = true
		for _, v := range plans[vg] {
			r := Result{Volume: v}
			for _, t := range v.Targets {
				mm := strings.Fields(t.Params)[0]
				for u, d := range pvDev {
					if d == mm && !slices.Contains(r.PVs, pvName[u]) {
						r.PVs = append(r.PVs, pvName[u])
					}
				}
			}
			if r.Err == nil {
				if a.Need != nil && !a.needed {
					a.needed = true
					a.Need("dm")
				}
				mm, err := a.Create(v.Name, v.UUID, v.Targets)
				if err != nil {
					r.Err = err
				} else {
					r.Device = sys.DMName(a.Sys, mm)
				}
			}
			out = append(out, r)
		}
	}
	return out
}
