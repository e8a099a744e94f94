//! `host_fn!` and `typed_plugin!`: the two convenience macros of upstream's crate, with the same syntax.

/// Define a host function whose arguments and result are values passed through kernel memory.
///
/// `host_fn!(pub name(user_data: Ty; a: A, b: B) -> R { body })` defines
/// `pub fn name(&mut CurrentPlugin, &[Val], &mut [Val], UserData<Ty>) -> Result<(), Error>`, usable with
/// [`crate::Function::new`]. Each argument is decoded from the handle in the matching `I64` parameter
/// ([`crate::FromBytes`]; owned types such as `String`, `Vec<u8>` or `Json<T>`), the body returns `Result<R, Error>`,
/// and the result is copied into a new kernel allocation whose handle becomes the first result (if the function
/// has one). The `user_data: Ty;` part may be left out. The body sees the arguments and `user_data`, not the plug-in.
///
/// ```
/// use extism::{host_fn, Function, UserData, PTR};
///
/// host_fn!(shout(text: String) -> String { Ok(text.to_uppercase()) });
/// host_fn!(count_calls(counter: u64; _input: String) -> String {
///     let counter = counter.get()?;
///     let mut n = counter.lock().unwrap();
///     *n += 1;
///     Ok(n.to_string())
/// });
///
/// let f = Function::new("shout", [PTR], [PTR], UserData::new(()), shout);
/// let g = Function::new("count_calls", [PTR], [PTR], UserData::new(0u64), count_calls);
/// # let _ = (f, g);
/// ```
#[macro_export]
macro_rules! host_fn {
    ($vis:vis $name:ident ($($arg:ident : $argty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $crate::host_fn!($vis $name (user_data: (); $($arg : $argty),*) $(-> $ret)? $body);
    };
    ($vis:vis $name:ident ($user_data:ident : $dataty:ty; $($arg:ident : $argty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $vis fn $name(
            plugin: &mut $crate::CurrentPlugin,
            inputs: &[$crate::Val],
            outputs: &mut [$crate::Val],
            #[allow(unused_variables, unused_mut)] mut $user_data: $crate::UserData<$dataty>,
        ) -> ::std::result::Result<(), $crate::Error> {
            let mut args = inputs.iter();
            $(
                let $arg: $argty = match args.next() {
                    Some(value) => plugin.memory_get_val(value)?,
                    None => return Err($crate::Error::msg(concat!(
                        "host function `", stringify!($name), "` was called without its argument `",
                        stringify!($arg), "`"
                    ))),
                };
            )*
            let body = move || -> ::std::result::Result<_, $crate::Error> { $body };
            let result $(: $ret)? = body()?;
            let handle = plugin.memory_new(&result)?;
            if let Some(slot) = outputs.first_mut() {
                *slot = plugin.memory_to_val(handle);
            }
            Ok(())
        }
    };
}

/// Wrap a [`crate::Plugin`] in a type with one typed method per export.
///
/// `typed_plugin!(pub Name { f(In) -> Out; g<T: FromBytes<'a>>(&str) -> T; })` defines `pub struct Name(pub Plugin)`
/// with `TryFrom<Plugin>` (fails with `Invalid function: {f}` unless every listed export exists),
/// `From<Name> for Plugin`, and `fn f<'a>(&'a mut self, input: In) -> Result<Out, Error>` calling the export.
/// Generic parameters may use the lifetime `'a` of `&'a mut self`.
#[macro_export]
macro_rules! typed_plugin {
    ($vis:vis $name:ident { $($f:ident $(< $($lt:tt $(: $bound:path)?),+ >)? ($input:ty) -> $output:ty);* $(;)? }) => {
        $vis struct $name(pub $crate::Plugin);

        impl ::std::convert::TryFrom<$crate::Plugin> for $name {
            type Error = $crate::Error;
            fn try_from(plugin: $crate::Plugin) -> ::std::result::Result<Self, $crate::Error> {
                $(
                    if !plugin.function_exists(stringify!($f)) {
                        return Err($crate::Error::msg(concat!("Invalid function: ", stringify!($f))));
                    }
                )*
                Ok($name(plugin))
            }
        }

        impl ::std::convert::From<$name> for $crate::Plugin {
            fn from(typed: $name) -> $crate::Plugin {
                typed.0
            }
        }

        impl $name {
            $(
                #[allow(missing_docs)]
                pub fn $f<'a $($(, $lt $(: $bound)?)+)?>(&'a mut self, input: $input)
                    -> ::std::result::Result<$output, $crate::Error>
                {
                    self.0.call(stringify!($f), input)
                }
            )*
        }
    };
}
