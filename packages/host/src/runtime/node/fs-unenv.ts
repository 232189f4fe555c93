/**
 * node:fs where workerd has none yet (nodejs_compat before 2025-09-15, or disable_nodejs_fs_module):
 * what wrangler's bundle gives there, unenv's stand-in. Importing it works, so a dependency that
 * imports fs and never calls it loads as under `wrangler dev`; every call throws unenv's error.
 */
const notImplemented = (name: string) => (): never => {
  throw new Error(`[unenv] fs.${name} is not implemented yet!`)
}
const notImplementedAsync = (name: string) => (): Promise<never> =>
  Promise.reject(new Error(`[unenv] fs.promises.${name} is not implemented yet!`))
const notConstructible = (name: string) =>
  class {
    constructor() {
      throw new Error(`[unenv] fs.${name} is not implemented yet!`)
    }
  }

export const F_OK = 0
export const R_OK = 4
export const W_OK = 2
export const X_OK = 1
export const constants = { F_OK, R_OK, W_OK, X_OK }
export const Dir = notConstructible('Dir')
export const Dirent = notConstructible('Dirent')
export const FileReadStream = notConstructible('FileReadStream')
export const FileWriteStream = notConstructible('FileWriteStream')
export const ReadStream = notConstructible('ReadStream')
export const Stats = notConstructible('Stats')
export const WriteStream = notConstructible('WriteStream')
export const access = notImplemented('access')
export const accessSync = notImplemented('accessSync')
export const appendFile = notImplemented('appendFile')
export const appendFileSync = notImplemented('appendFileSync')
export const chmod = notImplemented('chmod')
export const chmodSync = notImplemented('chmodSync')
export const chown = notImplemented('chown')
export const chownSync = notImplemented('chownSync')
export const close = notImplemented('close')
export const closeSync = notImplemented('closeSync')
export const copyFile = notImplemented('copyFile')
export const copyFileSync = notImplemented('copyFileSync')
export const cp = notImplemented('cp')
export const cpSync = notImplemented('cpSync')
export const createReadStream = notImplemented('createReadStream')
export const createWriteStream = notImplemented('createWriteStream')
export const exists = notImplemented('exists')
export const existsSync = notImplemented('existsSync')
export const fchmod = notImplemented('fchmod')
export const fchmodSync = notImplemented('fchmodSync')
export const fchown = notImplemented('fchown')
export const fchownSync = notImplemented('fchownSync')
export const fdatasync = notImplemented('fdatasync')
export const fdatasyncSync = notImplemented('fdatasyncSync')
export const fstat = notImplemented('fstat')
export const fstatSync = notImplemented('fstatSync')
export const fsync = notImplemented('fsync')
export const fsyncSync = notImplemented('fsyncSync')
export const ftruncate = notImplemented('ftruncate')
export const ftruncateSync = notImplemented('ftruncateSync')
export const futimes = notImplemented('futimes')
export const futimesSync = notImplemented('futimesSync')
export const glob = notImplemented('glob')
export const globSync = notImplemented('globSync')
export const lchmod = notImplemented('lchmod')
export const lchmodSync = notImplemented('lchmodSync')
export const lchown = notImplemented('lchown')
export const lchownSync = notImplemented('lchownSync')
export const link = notImplemented('link')
export const linkSync = notImplemented('linkSync')
export const lstat = notImplemented('lstat')
export const lstatSync = notImplemented('lstatSync')
export const lutimes = notImplemented('lutimes')
export const lutimesSync = notImplemented('lutimesSync')
export const mkdir = notImplemented('mkdir')
export const mkdirSync = notImplemented('mkdirSync')
export const mkdtemp = notImplemented('mkdtemp')
export const mkdtempSync = notImplemented('mkdtempSync')
export const open = notImplemented('open')
export const openAsBlob = notImplemented('openAsBlob')
export const openSync = notImplemented('openSync')
export const opendir = notImplemented('opendir')
export const opendirSync = notImplemented('opendirSync')
export const read = notImplemented('read')
export const readFile = notImplemented('readFile')
export const readFileSync = notImplemented('readFileSync')
export const readSync = notImplemented('readSync')
export const readdir = notImplemented('readdir')
export const readdirSync = notImplemented('readdirSync')
export const readlink = notImplemented('readlink')
export const readlinkSync = notImplemented('readlinkSync')
export const readv = notImplemented('readv')
export const readvSync = notImplemented('readvSync')
export const realpath = notImplemented('realpath')
export const realpathSync = notImplemented('realpathSync')
export const rename = notImplemented('rename')
export const renameSync = notImplemented('renameSync')
export const rm = notImplemented('rm')
export const rmSync = notImplemented('rmSync')
export const rmdir = notImplemented('rmdir')
export const rmdirSync = notImplemented('rmdirSync')
export const stat = notImplemented('stat')
export const statSync = notImplemented('statSync')
export const statfs = notImplemented('statfs')
export const statfsSync = notImplemented('statfsSync')
export const symlink = notImplemented('symlink')
export const symlinkSync = notImplemented('symlinkSync')
export const truncate = notImplemented('truncate')
export const truncateSync = notImplemented('truncateSync')
export const unlink = notImplemented('unlink')
export const unlinkSync = notImplemented('unlinkSync')
export const unwatchFile = notImplemented('unwatchFile')
export const utimes = notImplemented('utimes')
export const utimesSync = notImplemented('utimesSync')
export const watch = notImplemented('watch')
export const watchFile = notImplemented('watchFile')
export const write = notImplemented('write')
export const writeFile = notImplemented('writeFile')
export const writeFileSync = notImplemented('writeFileSync')
export const writeSync = notImplemented('writeSync')
export const writev = notImplemented('writev')
export const writevSync = notImplemented('writevSync')
export const promises = {
  FileHandle: notImplementedAsync('FileHandle'),
  access: notImplementedAsync('access'),
  appendFile: notImplementedAsync('appendFile'),
  chmod: notImplementedAsync('chmod'),
  chown: notImplementedAsync('chown'),
  copyFile: notImplementedAsync('copyFile'),
  cp: notImplementedAsync('cp'),
  glob: notImplementedAsync('glob'),
  lchmod: notImplementedAsync('lchmod'),
  lchown: notImplementedAsync('lchown'),
  link: notImplementedAsync('link'),
  lstat: notImplementedAsync('lstat'),
  lutimes: notImplementedAsync('lutimes'),
  mkdir: notImplementedAsync('mkdir'),
  mkdtemp: notImplementedAsync('mkdtemp'),
  open: notImplementedAsync('open'),
  opendir: notImplementedAsync('opendir'),
  readFile: notImplementedAsync('readFile'),
  readdir: notImplementedAsync('readdir'),
  readlink: notImplementedAsync('readlink'),
  realpath: notImplementedAsync('realpath'),
  rename: notImplementedAsync('rename'),
  rm: notImplementedAsync('rm'),
  rmdir: notImplementedAsync('rmdir'),
  stat: notImplementedAsync('stat'),
  statfs: notImplementedAsync('statfs'),
  symlink: notImplementedAsync('symlink'),
  truncate: notImplementedAsync('truncate'),
  unlink: notImplementedAsync('unlink'),
  utimes: notImplementedAsync('utimes'),
  watch: notImplementedAsync('watch'),
  writeFile: notImplementedAsync('writeFile'),
}

export default {
  F_OK,
  R_OK,
  W_OK,
  X_OK,
  constants,
  Dir,
  Dirent,
  FileReadStream,
  FileWriteStream,
  ReadStream,
  Stats,
  WriteStream,
  access,
  accessSync,
  appendFile,
  appendFileSync,
  chmod,
  chmodSync,
  chown,
  chownSync,
  close,
  closeSync,
  copyFile,
  copyFileSync,
  cp,
  cpSync,
  createReadStream,
  createWriteStream,
  exists,
  existsSync,
  fchmod,
  fchmodSync,
  fchown,
  fchownSync,
  fdatasync,
  fdatasyncSync,
  fstat,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncate,
  ftruncateSync,
  futimes,
  futimesSync,
  glob,
  globSync,
  lchmod,
  lchmodSync,
  lchown,
  lchownSync,
  link,
  linkSync,
  lstat,
  lstatSync,
  lutimes,
  lutimesSync,
  mkdir,
  mkdirSync,
  mkdtemp,
  mkdtempSync,
  open,
  openAsBlob,
  openSync,
  opendir,
  opendirSync,
  read,
  readFile,
  readFileSync,
  readSync,
  readdir,
  readdirSync,
  readlink,
  readlinkSync,
  readv,
  readvSync,
  realpath,
  realpathSync,
  rename,
  renameSync,
  rm,
  rmSync,
  rmdir,
  rmdirSync,
  stat,
  statSync,
  statfs,
  statfsSync,
  symlink,
  symlinkSync,
  truncate,
  truncateSync,
  unlink,
  unlinkSync,
  unwatchFile,
  utimes,
  utimesSync,
  watch,
  watchFile,
  write,
  writeFile,
  writeFileSync,
  writeSync,
  writev,
  writevSync,
  promises,
}
