package policy

import (
	"container/list"
	"sync"
)

// attrCache remembers the classification of recent action texts (SQL
// statements, command lines): the attributes depend on the text alone, so a
// statement that repeats (an ORM's query, a prepared statement, a runbook
// command) is parsed once. Decisions are still made afresh every time: rules
// may read the actor, the environment and the connection.
//
// An entry also keeps the CEL view of the attributes, so the values rules
// read are converted once per text, and the Decision.Attrs map.
type attrCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[cacheKey]*list.Element
}

// classified is one classification: the attributes, their CEL view and the
// map a Decision reports them in. None of them is ever modified.
type classified struct {
	attrs map[string]any
	view  *attrMap
	out   map[string]any // {variable: attrs}, Decision.Attrs
}

type cacheEntry struct {
	key cacheKey
	val *classified
}

// Texts longer than maxCachedText are classified every time.
const (
	maxCachedText   = 8 << 10
	attrCacheOfSize = 4096
)

func newAttrCache(n int) *attrCache {
	return &attrCache{max: n, ll: list.New(), items: map[cacheKey]*list.Element{}}
}

func (c *attrCache) get(key cacheKey) (*classified, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*cacheEntry).val, true
}

func (c *attrCache) put(key cacheKey, val *classified) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		el.Value.(*cacheEntry).val = val
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, val: val})
	if c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).key)
	}
}

func (c *attrCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.items)
}
