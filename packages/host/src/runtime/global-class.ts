/**
 * A platform class whose constructions the runtime must see (`Response` bodies, `Request.cf`):
 * a Proxy of the same class, so `instanceof`, statics, subclasses and the prototype are
 * unchanged, and the prototype's `constructor` is the Proxy too.
 */
export function observeConstruction<C extends new (...args: never[]) => object>(
  original: C,
  constructed: (instance: InstanceType<C>, args: ConstructorParameters<C>) => void
): C {
  const observed = new Proxy(original, {
    construct(target, args, newTarget) {
      const instance = Reflect.construct(target, args, newTarget) as InstanceType<C>
      constructed(instance, args as ConstructorParameters<C>)
      return instance
    },
  })
  Object.defineProperty(original.prototype, 'constructor', {
    value: observed,
    writable: true,
    enumerable: false,
    configurable: true,
  })
  return observed
}
