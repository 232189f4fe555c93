/** Stands in for a built-in that workerd does not have at the Worker's compatibility date. */
const name = new URL(import.meta.url).searchParams.get('name') ?? 'unknown'
throw new Error(`No such module "node:${name}".`)
