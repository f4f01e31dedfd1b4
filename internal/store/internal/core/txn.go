package core

import (
	"fmt"

	"github.com/overcast-cloud/overcast/internal/store"
)

// EncodeOps validates a transaction and returns the encoded key of each op.
func EncodeOps(ops []store.Op) ([][]byte, error) {
	keys := make([][]byte, len(ops))
	seen := make(map[string]struct{}, len(ops))
	for i, op := range ops {
		k, err := EncodeKey(op.Key)
		if err != nil {
			return nil, err
		}
		if op.Expect < store.Any {
			return nil, fmt.Errorf("store: %s: expected revision %d is not Any, Absent or a revision", op.Key, op.Expect)
		}
		// etcd refuses a key twice in one txn too: the order of the two writes would be a hidden rule.
		if _, dup := seen[string(k)]; dup {
			return nil, fmt.Errorf("store: %s: key appears twice in one transaction", op.Key)
		}
		seen[string(k)] = struct{}{}
		keys[i] = k
	}
	return keys, nil
}

// Check applies op's Expect and delete rule to the record's current ModRevision (0 when absent).
func Check(op store.Op, have int64) error {
	switch {
	case op.Expect == store.Any:
	case op.Expect == store.Absent && have != 0:
		return fmt.Errorf("%s: %w", op.Key, store.ErrExists)
	case op.Expect != have:
		return fmt.Errorf("store: %s: expected revision %d, have %d: %w", op.Key, op.Expect, have, store.ErrConflict)
	}
	if op.Delete && have == 0 {
		return fmt.Errorf("store: delete %s: %w", op.Key, store.ErrNotFound)
	}
	return nil
}
