package bus

import "axis/axis/errs"

// CheckTopic reports whether name is a legal Kafka topic name (at most 249 of
// [a-zA-Z0-9._-], not "." or ".."), so every implementation refuses the same names.
func CheckTopic(name string) error {
	if name == "" {
		return errs.E(errs.BadRequest, "empty topic name")
	}
	if len(name) > 249 {
		return errs.E(errs.BadRequest, "topic name longer than 249 characters")
	}
	if name == "." || name == ".." {
		return errs.E(errs.BadRequest, "topic name %q is not allowed", name)
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '_' || r == '-') {
			return errs.E(errs.BadRequest, "topic name %q: only letters, digits, '.', '_' and '-' are allowed", name)
		}
	}
	return nil
}

// CheckGroup reports whether group is a usable consumer group id.
func CheckGroup(group string) error {
	if group == "" {
		return errs.E(errs.BadRequest, "empty consumer group")
	}
	return nil
}

// Size is the number of bytes a message counts against MaxMessageBytes.
func (m Message) Size() int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}
