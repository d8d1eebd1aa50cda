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
type attrCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	key   string
	attrs map[string]any
}

// Texts longer than maxCachedText are classified every time.
const (
	maxCachedText   = 8 << 10
	attrCacheOfSize = 4096
)

func newAttrCache(n int) *attrCache {
	return &attrCache{max: n, ll: list.New(), items: map[string]*list.Element{}}
}

func (c *attrCache) get(key string) (map[string]any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*cacheEntry).attrs, true
}

func (c *attrCache) put(key string, attrs map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.ll.MoveToFront(el)
		el.Value.(*cacheEntry).attrs = attrs
		return
	}
	c.items[key] = c.ll.PushFront(&cacheEntry{key: key, attrs: attrs})
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
