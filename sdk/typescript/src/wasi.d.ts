// The one WASI import the SDK makes itself (see wit/world.wit); componentize-js provides it as a
// built-in module.
declare module 'wasi:cli/environment@0.2.12' {
  /** The environment the host gives the instance: WARDEN_HTTP_<NAME> for each HTTP destination. */
  export function getEnvironment(): Array<[string, string]>;
}
