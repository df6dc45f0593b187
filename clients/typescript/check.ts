// What a TypeScript app writes against the types `make clients` generates
// (generated/typescript/api.d.ts): tsc --noEmit must accept it as it is.
import type { components, paths } from "stores-api";

type Store = components["schemas"]["Store"];
type Item = components["schemas"]["Item"];
type Changes = components["schemas"]["Changes"];
type CreateItem = paths["/item"]["post"]["requestBody"]["content"]["application/json"];
type CreateStoreHeaders = paths["/store"]["post"]["parameters"]["header"];

const newItem: CreateItem = { name: "Chair", price: 17.99, store_id: 1 };
const retry: CreateStoreHeaders = { "Idempotency-Key": "3f1c2e0a-retry-once" };

function priceOf(item: Item): number {
  return item.price;
}

function namesOf(store: Store): string[] {
  return (store.items ?? []).map((item) => item.name);
}

function apply(feed: Changes, rows: Map<string, unknown>): string | undefined {
  for (const change of feed.changes ?? []) {
    const key = `${change.type}:${change.id}`;
    if (change.op === "delete") rows.delete(key);
    else rows.set(key, change.data);
  }
  return feed.has_more ? feed.cursor : undefined;
}

export { apply, namesOf, newItem, priceOf, retry };
