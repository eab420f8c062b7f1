package workload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/dump"
)

const (
	// What the API server's name generator allows: 63 characters of which
	// the last 5 are random.
	maxNameLength          = 63
	randomLength           = 5
	maxGeneratedNameLength = maxNameLength - randomLength
)

// namer hands out the random-looking pod name suffixes of one expansion. A
// suffix is a hash of (owner, key, seed), so that pods keep their names
// between runs and a new seed renames them; a clash between two pods of the
// expansion, which the API server would answer with AlreadyExists and the
// controller with a retry, is resolved by hashing again.
type namer struct {
	owner, seed string
	used        map[string]bool
}

func newNamer(owner, seed string) *namer {
	return &namer{owner: owner, seed: seed, used: map[string]bool{}}
}

// name returns generateName followed by a suffix for key, as the API server
// completes a generateName (after cutting it to 58 characters).
func (n *namer) name(generateName, key string) string {
	base := generateName
	if len(base) > maxGeneratedNameLength {
		base = base[:maxGeneratedNameLength]
	}
	for attempt := 0; ; attempt++ {
		name := base + suffix(n.owner, key, n.seed, attempt)
		if !n.used[name] {
			n.used[name] = true
			return name
		}
	}
}

// suffix draws 5 characters from the alphabet of rand.String, which
// rand.SafeEncodeString maps onto: each character is one base-27 digit of
// the hash, turned into a rune below 27 for SafeEncodeString to encode.
func suffix(owner, key, seed string, attempt int) string {
	h := sha256.Sum256([]byte(owner + "\x00" + key + "\x00" + seed + "\x00" + strconv.Itoa(attempt)))
	v := binary.BigEndian.Uint64(h[:8])
	digits := make([]rune, randomLength)
	for i := range digits {
		digits[i] = rune(v % 27)
		v /= 27
	}
	return rand.SafeEncodeString(string(digits))
}

// uidFor makes a UID for an object that has none (it comes from a file).
// It only has to be stable and distinct per object: controller-uid labels
// and owner references are compared, never parsed.
func uidFor(kind, namespace, name string) types.UID {
	h := sha256.Sum256([]byte(kind + "\x00" + namespace + "\x00" + name))
	h[6] = h[6]&0x0f | 0x50 // version 5: name-based
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return types.UID(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}

// computeHash is upstream's controller.ComputeHash: fnv32a over the
// spew-style dump of the template, then the collision count. It gives
// upstream's pod-template-hash when the template has been defaulted as the
// API server does; on a template as written it is stable but differs.
func computeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	hasher := fnv.New32a()
	fmt.Fprintf(hasher, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		hasher.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(hasher.Sum32()))
}

// controllerRevisionHash is upstream's history.HashControllerRevision for the
// revision the StatefulSet controller records: fnv32 (not 32a) over the
// strategic-merge patch {"spec":{"template":{...,"$patch":"replace"}}}.
func controllerRevisionHash(template *corev1.PodTemplateSpec, collisionCount *int32) (string, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return "", err
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return "", err
	}
	tmpl["$patch"] = "replace"
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
	if err != nil {
		return "", err
	}
	hf := fnv.New32()
	hf.Write(patch)
	if collisionCount != nil {
		hf.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(hf.Sum32())), nil
}

// controllerRevisionName is upstream's history.ControllerRevisionName.
func controllerRevisionName(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}
