package main

import (
	"fmt"
	"strings"
)

// ConfigError names the config file, and where known the line, section
// and key, that ppserver could not use.
type ConfigError struct {
	File    string
	Line    int
	Section string
	Key     string
	Err     error
}

func (e *ConfigError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", where, e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("config file %s: [%s] %s: %v", where, e.Section, e.Key, e.Err)
	}
	return fmt.Sprintf("config file %s: %v", where, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

// iniEntry is one `key = value` line.
type iniEntry struct {
	section, key, value string
	line                int
}

// parseINI reads the subset of Python's configparser format that ppserver
// config files use: [section] headers, `key = value` or `key: value`
// lines, and whole-line comments starting with # or ;. Section and key
// names are case-insensitive, as configparser lowercases keys. Without
// interpolation, a % in a value is just a %.
func parseINI(file string, data []byte) ([]iniEntry, error) {
	var (
		entries  []iniEntry
		section  string
		sections = map[string]bool{}
		seen     = map[string]bool{}
	)
	for n, line := range strings.Split(string(data), "\n") {
		n++
		fail := func(format string, args ...any) error {
			return &ConfigError{File: file, Line: n, Err: fmt.Errorf(format, args...)}
		}
		line = strings.TrimSuffix(line, "\r")
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';':
			continue
		case line[0] == ' ' || line[0] == '\t':
			return nil, fail("indented line %q: continuation lines are not supported", trimmed)
		case trimmed[0] == '[':
			if !strings.HasSuffix(trimmed, "]") {
				return nil, fail("malformed section header %q", trimmed)
			}
			section = strings.ToLower(strings.TrimSpace(trimmed[1 : len(trimmed)-1]))
			if sections[section] {
				return nil, fail("section [%s] appears twice", section)
			}
			sections[section] = true
			continue
		}
		i := strings.IndexAny(trimmed, "=:")
		if i <= 0 {
			return nil, fail("expected `key = value`, got %q", trimmed)
		}
		if section == "" {
			return nil, fail("%q comes before any [section] header", trimmed)
		}
		key := strings.ToLower(strings.TrimSpace(trimmed[:i]))
		if seen[section+"\x00"+key] {
			return nil, fail("key %q appears twice in [%s]", key, section)
		}
		seen[section+"\x00"+key] = true
		entries = append(entries, iniEntry{section, key, strings.TrimSpace(trimmed[i+1:]), n})
	}
	return entries, nil
}

// applyConfig stores the settings of a config file in s. A key ppserver
// does not know is ignored, as legacy ppserver ignores it, but it comes
// back as a warning so that a misspelt key does not go unnoticed.
func applyConfig(s *Settings, file string, data []byte) (warnings []string, err error) {
	entries, err := parseINI(file, data)
	if err != nil {
		return nil, &UsageError{err.Error()}
	}
	for _, e := range entries {
		cerr := &ConfigError{File: file, Line: e.line, Section: e.section, Key: e.key}
		o := lookupKey(e.section, e.key)
		if o == nil {
			cerr.Err = fmt.Errorf("unknown key, ignored (known keys: %s)", knownKeys())
			warnings = append(warnings, cerr.Error())
			continue
		}
		if err := o.set(s, e.value); err != nil {
			cerr.Err = err
			return nil, &UsageError{cerr.Error()}
		}
	}
	return warnings, nil
}

func lookupKey(section, key string) *option {
	for i := range options {
		if options[i].key != "" && options[i].section == section && options[i].key == key {
			return &options[i]
		}
	}
	return nil
}

func knownKeys() string {
	var keys []string
	for _, o := range options {
		if o.key != "" {
			keys = append(keys, fmt.Sprintf("[%s] %s", o.section, o.key))
		}
	}
	return strings.Join(keys, ", ")
}
