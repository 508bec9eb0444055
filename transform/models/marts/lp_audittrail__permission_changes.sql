{#-
  Changes to what people may do, one row per permission granted, revoked or otherwise touched.
  A profile is a set of permissions, each of its elements one permission: every change of a
  profile is here, its adds and deletes as a whole included. A user gets permissions and work
  through lists (var lp_audittrail_user_permission_elements: Profiles, Skills, agent groups),
  each a comma-separated value: an edit of one of these is split into one row per item added
  (granted) or removed (revoked); the user's adds and deletes as a whole are here too. A
  user's other elements (name, email, ...) and skills and agent groups themselves change no
  permission. docs/models.md says why.
-#}
{%- set text = dbt.type_string() -%}

with recursive changes as (

    select * from {{ ref('int_lp_audittrail__ordered_changes') }}

),

chosen as (

    select
        changes.*,
        case
            when audited_element = 'profiles' and is_field_change then 'profile_permission'
            when audited_element = 'profiles' then 'profile_lifecycle'
            when is_field_change then 'user_assignment'
            else 'user_lifecycle'
        end as permission_change_kind
    from changes
    where audited_element = 'profiles'
        or (
            audited_element = 'users'
            and (
                (not is_field_change and action in ('add', 'delete'))
                or (
                    is_field_change
                    and lower(trim(element)) in {{ lp_audittrail_lower_list(var('lp_audittrail_user_permission_elements')) }}
                )
            )
        )

),

lists as (

    select change_id, 'old' as side, old_value as list from chosen
    where permission_change_kind = 'user_assignment' and trim(old_value) <> ''
    union all
    select change_id, 'new' as side, new_value as list from chosen
    where permission_change_kind = 'user_assignment' and trim(new_value) <> ''

),

-- the lists' items, one by one: each step takes the item before the first comma of the rest
items as (

    select
        change_id,
        side,
        {{ lp_audittrail_first_item('list') }} as item,
        {{ lp_audittrail_after_first_item('list') }} as rest
    from lists

    union all

    select
        change_id,
        side,
        {{ lp_audittrail_first_item('rest') }} as item,
        {{ lp_audittrail_after_first_item('rest') }} as rest
    from items
    where rest is not null

),

-- each item with the sides it is on: only on the new side it was added, only on the old removed
moved as (

    select
        change_id,
        item,
        case when max(case when side = 'old' then 1 else 0 end) = 1 then 'revoked' else 'granted' end
            as permission_effect
    from (select change_id, side, trim(item) as item from items) as trimmed
    where item <> ''
    group by change_id, item
    having count(distinct side) = 1

),

effects as (

    -- a user's lists: one row per item added or removed; one row `unchanged` when none was
    select chosen.change_id, moved.item, coalesce(moved.permission_effect, 'unchanged') as permission_effect
    from chosen
    left join moved on moved.change_id = chosen.change_id
    where chosen.permission_change_kind = 'user_assignment'

    union all

    select
        change_id,
        cast(null as {{ text }}) as item,
        case
            when permission_change_kind <> 'profile_permission' then
                case action when 'add' then 'created' when 'delete' then 'deleted' else 'set' end
            when lower(trim(new_value)) = 'true' and coalesce(lower(trim(old_value)), '') <> 'true'
                then 'granted'
            when lower(trim(old_value)) = 'true' and coalesce(lower(trim(new_value)), '') <> 'true'
                then 'revoked'
            when coalesce(lower(trim(old_value)), '') = coalesce(lower(trim(new_value)), '')
                then 'unchanged'
            else 'set'
        end as permission_effect
    from chosen
    where permission_change_kind <> 'user_assignment'

)

select
    {{ lp_audittrail_key(['chosen.change_id', 'effects.item']) }} as permission_change_id,
    chosen.change_id,
    chosen.changed_at,
    chosen.changed_on,
    chosen.permission_change_kind,
    case when chosen.audited_element = 'profiles' then 'profile' else 'user' end as subject_type,
    chosen.object_type,
    chosen.object_name as subject_name,
    chosen.element as permission,
    effects.item,
    chosen.action,
    chosen.action_type,
    chosen.old_value,
    chosen.new_value,
    effects.permission_effect,
    chosen.originator,
    chosen.originator_login_name,
    chosen.originator_user_id,
    chosen.originator_auth_type,
    chosen.originator_is_lpa,
    chosen.originator_kind
from chosen
inner join effects on effects.change_id = chosen.change_id
